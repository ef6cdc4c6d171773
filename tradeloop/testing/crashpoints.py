"""Fault injection for the crash tests: ``install`` wraps a coordinator's composer and gateway
with the ``after_compose`` and ``after_execute`` crash points. The points themselves, their
environment variables and ``armed()`` live in the import-free ``tradeloop.trading.crashpoints``,
which production code marks; they are re-exported here for the tests.
"""

from __future__ import annotations

from tradeloop.trading._internal.coordinator import DefaultDecisionCoordinator
from tradeloop.trading.crashpoints import (
    CRASH_AFTER_ENV,
    CRASH_ARMED_FILE_ENV,
    CRASH_AT_ENV,
    POINTS,
    armed,
    crash_point,
)
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    FeatureVector,
    TradeInstruction,
    TxResult,
)

__all__ = [
    "CRASH_AFTER_ENV",
    "CRASH_ARMED_FILE_ENV",
    "CRASH_AT_ENV",
    "POINTS",
    "armed",
    "crash_point",
    "install",
]


class _CrashAfterCompose(BaseComposer):
    def __init__(self, inner: BaseComposer) -> None:
        self.inner = inner

    async def compose(self, context: ComposeContext) -> ComposeResult:
        result = await self.inner.compose(context)
        crash_point("after_compose")
        return result

    async def close(self) -> None:
        await self.inner.close()


class _CrashAfterExecute(BaseExecutionGateway):
    def __init__(self, inner: BaseExecutionGateway) -> None:
        self.inner = inner

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        results = await self.inner.execute(instructions, market_features)
        crash_point("after_execute")
        return results

    async def close(self) -> None:
        await self.inner.close()


def install(coordinator: DefaultDecisionCoordinator) -> None:
    """Wrap the coordinator's composer and gateway with the ``after_*`` crash points."""
    coordinator.composer = _CrashAfterCompose(coordinator.composer)
    coordinator.gateway = _CrashAfterExecute(coordinator.gateway)
