"""The execution contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tradeloop.trading.models import FeatureVector, TradeInstruction, TxResult


class BaseExecutionGateway(ABC):
    """Sends guarded instructions to a venue (or simulates them).

    Failure contract: one ``TxResult`` per instruction, in order; an instruction that cannot be
    executed is ``REJECTED``/``ERROR`` with a reason, never silently dropped.
    """

    @abstractmethod
    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]: ...

    async def close(self) -> None:
        """Release connections. Default: nothing to release."""
