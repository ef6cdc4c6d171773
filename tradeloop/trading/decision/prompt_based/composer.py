"""LlmComposer: a model reads the cycle's context and proposes a trade plan through one forced
function call, over whichever provider the strategy names (``providers``: ``anthropic_api`` for
Claude, ``openai_api`` for any OpenAI-compatible API).

Code, not the model, decides what is sent: the reply must be one ``submit_trade_plan`` call whose
arguments pass ``TradePlan`` validation. An invalid reply gets one repair turn (the validation
errors go back as the call's error result); if that is invalid too, the result has no
instructions and ``skipped_reason="llm_invalid: ..."``. The guardrails run on whatever comes out.
The same contract, reasons and cost accounting hold for every provider.

The API key is never logged, stored in ``raw`` or put into an error message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.prompt_based.anthropic_api import (
    build_client,
    read_plan,
    translate_error,
)
from tradeloop.trading.decision.prompt_based.by_provider import make_provider
from tradeloop.trading.decision.prompt_based.context_json import render_context
from tradeloop.trading.decision.prompt_based.plan import (
    InvalidPlan,
    TradePlan,
    plan_to_adjustments,
    plan_to_instructions,
)
from tradeloop.trading.decision.prompt_based.pricing import cost_usd
from tradeloop.trading.decision.prompt_based.providers import (
    TOKEN_FIELDS,
    json_safe,
    resolve_api_key,
)
from tradeloop.trading.decision.prompt_based.system_prompt import render_system_prompt
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    LLMUsage,
    UserRequest,
)

__all__ = [
    "LlmComposer",
    "build_client",
    "json_safe",
    "read_plan",
    "resolve_api_key",
    "translate_error",
]

logger = logging.getLogger(__name__)

MAX_SKIPPED_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class _Attempt:
    reply: Any
    latency_ms: int
    plan: TradePlan | None
    error: InvalidPlan | None


class LlmComposer(BaseComposer):
    def __init__(
        self,
        request: UserRequest,
        *,
        client: Any = None,
        api_key: str | None = None,
    ) -> None:
        """``client``: the provider's SDK client (``anthropic.AsyncAnthropic`` or
        ``openai.AsyncOpenAI``) or a stand-in such as the backtest reply cache; default: built
        on the first call from ``llm_model_config`` and the key in the environment."""
        cfg = request.llm_model_config
        self.request = request
        self._cfg = cfg
        self._system = render_system_prompt(request)
        self._provider = make_provider(cfg, self._system, client, api_key)

    async def compose(self, context: ComposeContext) -> ComposeResult:
        user = render_context(context)
        messages = self._provider.first_messages(self._system, user)
        attempts = [await self._attempt(messages)]
        if attempts[0].error is not None:
            logger.warning(
                "llm reply invalid, asking once for a repair strategy_id=%s compose_id=%s reason=%s",
                context.strategy_id,
                context.compose_id,
                attempts[0].error.short,
            )
            messages.extend(self._provider.repair_turns(attempts[0].reply, attempts[0].error))
            attempts.append(await self._attempt(messages))
        return self._result(context, user, attempts)

    async def close(self) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this composer created it."""
        await self._provider.aclose()

    async def _attempt(self, messages: list[dict[str, Any]]) -> _Attempt:
        started = time.monotonic()
        reply = await self._provider.send(messages)
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            return _Attempt(reply, latency_ms, self._provider.read_plan(reply), None)
        except InvalidPlan as err:
            return _Attempt(reply, latency_ms, None, err)

    def _result(
        self, context: ComposeContext, user: str, attempts: list[_Attempt]
    ) -> ComposeResult:
        last = attempts[-1]
        usage = self._usage(attempts)
        raw = self._raw(user, attempts)
        _log_outcome(context, last, usage, len(attempts))
        if last.plan is None:
            reason = f"llm_invalid: {last.error.short if last.error else 'invalid plan'}"
            return ComposeResult(
                skipped_reason=reason[:MAX_SKIPPED_REASON_CHARS], raw=raw, usage=usage
            )
        return ComposeResult(
            instructions=plan_to_instructions(last.plan, context),
            adjustments=plan_to_adjustments(last.plan, context),
            rationale=last.plan.rationale,
            raw=raw,
            usage=usage,
        )

    def _raw(self, user: str, attempts: list[_Attempt]) -> dict[str, Any]:
        last = attempts[-1].reply
        return {
            "prompt": {"system": self._system, "user": user},
            "reply": json_safe(self._provider.payload(last)),
            "attempts": len(attempts),
            "provider": self._cfg.provider,
            "model": self._model(last),
            "errors": [a.error.reasons for a in attempts if a.error is not None],
            "stop_reason": self._provider.stop_reason(last),
        }

    def _usage(self, attempts: list[_Attempt]) -> LLMUsage:
        model = self._model(attempts[-1].reply)
        counted = [self._provider.tokens(a.reply) for a in attempts]
        counts = {field: sum(c[field] for c in counted) for field in TOKEN_FIELDS}
        return LLMUsage(
            model=model,
            latency_ms=sum(a.latency_ms for a in attempts),
            cost_usd=cost_usd(model, price=self._cfg.price, **counts),
            **counts,
        )

    def _model(self, reply: Any) -> str:
        return self._provider.model(reply) or self._cfg.model_id


# --------------------------------------------------------------------------- logging


def _log_outcome(context: ComposeContext, last: _Attempt, usage: LLMUsage, attempts: int) -> None:
    if last.plan is None:
        logger.warning(
            "llm reply invalid, no instructions strategy_id=%s compose_id=%s attempts=%d reason=%s",
            context.strategy_id,
            context.compose_id,
            attempts,
            last.error.short if last.error else "invalid plan",
        )
    logger.debug(  # the cycle's INFO line carries the cost
        "llm compose strategy_id=%s compose_id=%s attempts=%d items=%d input_tokens=%d "
        "output_tokens=%d cache_write=%d cache_read=%d cost_usd=%s latency_ms=%d",
        context.strategy_id,
        context.compose_id,
        attempts,
        len(last.plan.items) if last.plan else 0,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_creation_input_tokens,
        usage.cache_read_input_tokens,
        "unknown" if usage.cost_usd is None else f"{usage.cost_usd:.6f}",
        usage.latency_ms,
    )
