"""HybridComposer: the LLM proposes, then deterministic risk rules filter the proposal.

This is the spec's "Combining LLM with Rules" pattern. The default rule drops instructions whose
``meta["confidence"]`` is below ``min_confidence`` (0.0 keeps everything); subclasses override
``_passes_risk_check``. The guardrails still run afterwards on what is left.
"""

from __future__ import annotations

import logging
import math

from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.prompt_based.composer import LlmComposer
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import ComposeContext, ComposeResult, TradeInstruction, UserRequest

logger = logging.getLogger(__name__)


class HybridComposer(BaseComposer):
    def __init__(
        self,
        request: UserRequest,
        llm_composer: BaseComposer | None = None,
        *,
        min_confidence: float = 0.0,
    ) -> None:
        if not (math.isfinite(min_confidence) and 0.0 <= min_confidence <= 1.0):
            raise ConfigError(f"min_confidence must be within [0, 1], got {min_confidence}")
        self.request = request
        self.llm_composer = llm_composer or LlmComposer(request)
        self.min_confidence = min_confidence

    async def compose(self, context: ComposeContext) -> ComposeResult:
        llm_result = await self.llm_composer.compose(context)
        filtered = [i for i in llm_result.instructions if self._passes_risk_check(i, context)]
        dropped = len(llm_result.instructions) - len(filtered)
        if dropped:
            logger.debug(
                "risk filters dropped %d of %d instructions strategy_id=%s compose_id=%s",
                dropped,
                len(llm_result.instructions),
                context.strategy_id,
                context.compose_id,
            )
        return ComposeResult(
            instructions=filtered,
            rationale=f"LLM + risk filters: {llm_result.rationale or llm_result.skipped_reason}",
            skipped_reason=llm_result.skipped_reason,
            adjustments=llm_result.adjustments,  # levels of held positions: not trades to filter
            raw=llm_result.raw,
            usage=llm_result.usage,
        )

    async def close(self) -> None:
        await self.llm_composer.close()

    def _passes_risk_check(self, inst: TradeInstruction, context: ComposeContext) -> bool:
        """Custom risk rules go here; by default: confidence at least ``min_confidence``."""
        if self.min_confidence <= 0.0:
            return True
        confidence = (inst.meta or {}).get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            return False
        return math.isfinite(confidence) and confidence >= self.min_confidence
