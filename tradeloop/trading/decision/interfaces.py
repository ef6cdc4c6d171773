"""The decision contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from tradeloop.trading.models import ComposeContext, ComposeResult

if TYPE_CHECKING:
    from tradeloop.trading.decision.vectorized import CycleFeatures, SideSignals


class BaseComposer(ABC):
    """Proposes instructions for one cycle; the guardrails decide what is actually sent.

    Failure contract: an unusable model reply is a ``ComposeResult`` with ``skipped_reason`` and no
    instructions; transport failures raise ``TemporaryError``.
    """

    @abstractmethod
    async def compose(self, context: ComposeContext) -> ComposeResult: ...

    async def close(self) -> None:
        """Release clients (an LLM's HTTP connection). Default: nothing to release."""

    def cycle_signals(self, features: CycleFeatures) -> dict[str, SideSignals] | None:
        """Where, over a whole backtest, this composer might act (see ``decision.vectorized``).

        Default None: not vectorizable, so a backtest runs every cycle through ``compose``."""
        return None
