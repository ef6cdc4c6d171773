"""Hand-written fakes for what tests cannot reach, and tiny builders for DTOs."""

from __future__ import annotations

from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    FeaturesPipelineResult,
    FeatureVector,
    InstrumentRef,
    TradeAction,
    TradeInstruction,
    TradeSide,
    TxResult,
)


def snapshot(symbol: str, price: float, ts: int = 0) -> FeatureVector:
    return FeatureVector(
        ts=ts,
        instrument=InstrumentRef(symbol=symbol),
        values={"price": price, "high": price, "low": price},
        meta={"group_by_key": "market_snapshot"},
    )


def candle_features(symbol: str, interval: str, ts: int = 0, **values: float) -> FeatureVector:
    return FeatureVector(
        ts=ts,
        instrument=InstrumentRef(symbol=symbol),
        values=values,
        meta={"interval": interval, "group_by_key": f"candles_{interval}"},
    )


def instruction(
    symbol: str,
    side: TradeSide,
    quantity: float,
    *,
    index: int = 0,
    compose_id: str = "c_test",
    action: TradeAction | None = None,
    leverage: float | None = None,
) -> TradeInstruction:
    return TradeInstruction(
        instruction_id=f"{compose_id}:{index}",
        compose_id=compose_id,
        instrument=InstrumentRef(symbol=symbol),
        side=side,
        quantity=quantity,
        action=action,
        leverage=leverage,
    )


class StaticPipeline(BaseFeaturesPipeline):
    """Serves a scripted sequence of prices, one set per cycle (the last repeats)."""

    def __init__(self, prices: list[dict[str, float]]) -> None:
        self._prices = prices
        self.calls = 0

    async def build(self) -> FeaturesPipelineResult:
        prices = self._prices[min(self.calls, len(self._prices) - 1)]
        self.calls += 1
        return FeaturesPipelineResult(features=[snapshot(s, p) for s, p in prices.items()])


class ScriptedComposer(BaseComposer):
    """Returns scripted instructions per cycle: a list of (symbol, side, quantity, action)."""

    def __init__(
        self, script: list[list[tuple[str, TradeSide, float, TradeAction | None]]]
    ) -> None:
        self._script = script
        self.contexts: list[ComposeContext] = []

    async def compose(self, context: ComposeContext) -> ComposeResult:
        step = self._script[len(self.contexts)] if len(self.contexts) < len(self._script) else []
        self.contexts.append(context)
        instructions = [
            instruction(sym, side, qty, index=i, compose_id=context.compose_id, action=action)
            for i, (sym, side, qty, action) in enumerate(step)
        ]
        return ComposeResult(instructions=instructions, rationale="scripted")


class RecordingGateway(BaseExecutionGateway):
    """Wraps a real gateway and records every instruction that reached it."""

    def __init__(self, inner: BaseExecutionGateway) -> None:
        self.inner = inner
        self.received: list[TradeInstruction] = []

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        self.received.extend(instructions)
        return await self.inner.execute(instructions, market_features)
