"""Stop-loss and take-profit levels are enforced by the framework on later candles."""

from __future__ import annotations

from tests.fakes import ScriptedComposer
from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    FeaturesPipelineResult,
    FeatureVector,
    InstrumentRef,
    TradeSide,
    TradingConfig,
    UserRequest,
)


class RangePipeline(BaseFeaturesPipeline):
    def __init__(self, bars: list[tuple[float, float, float]]) -> None:
        self.bars, self.calls = bars, 0

    async def build(self) -> FeaturesPipelineResult:
        price, low, high = self.bars[min(self.calls, len(self.bars) - 1)]
        self.calls += 1
        vector = FeatureVector(
            ts=0,
            instrument=InstrumentRef(symbol="BTC-USDT"),
            values={"price": price, "low": low, "high": high},
            meta={"group_by_key": "market_snapshot"},
        )
        return FeaturesPipelineResult(features=[vector])


class OpenWithLevels(BaseComposer):
    def __init__(self, stop: float | None, target: float | None) -> None:
        self.stop, self.target, self.done = stop, target, False

    async def compose(self, context: ComposeContext) -> ComposeResult:
        if self.done:
            return ComposeResult(rationale="hold")
        self.done = True
        inner = ScriptedComposer([[("BTC-USDT", TradeSide.BUY, 1.0, None)]])
        result = await inner.compose(context)
        inst = result.instructions[0].model_copy(
            update={"stop_loss": self.stop, "take_profit": self.target}
        )
        return ComposeResult(instructions=[inst], rationale="open with levels")


async def run(bars, stop, target):
    request = UserRequest(trading_config=TradingConfig(initial_capital=1_000, symbols=["BTC-USDT"]))
    parts = Components(
        pipeline=RangePipeline(bars),
        composer=OpenWithLevels(stop, target),
        clock=SimulatedClock(0),
    )
    runtime = await DefaultStrategyAgent().create_runtime(request, components=parts)
    return [await runtime.coordinator.run_once() for _ in bars]


async def test_a_touched_stop_loss_closes_the_position_at_its_level() -> None:
    results = await run([(100, 99, 101), (98, 97, 99), (90, 85, 95)], stop=95.0, target=120.0)
    assert results[1].instructions == []
    exit_fill = results[2].tx_results[0]
    assert results[2].instructions[0].meta["trigger"] == "stop_loss"
    assert exit_fill.avg_exec_price < 95.0 and exit_fill.avg_exec_price > 94.9
    assert results[2].portfolio.positions == {}


async def test_a_touched_take_profit_closes_the_position() -> None:
    results = await run([(100, 99, 101), (110, 105, 121)], stop=None, target=120.0)
    assert results[1].instructions[0].meta["trigger"] == "take_profit"
    assert results[1].trades[0].realized_pnl > 0


async def test_a_stop_on_the_wrong_side_of_the_price_is_ignored_with_a_reason() -> None:
    results = await run([(100, 99, 101), (100, 99, 101)], stop=105.0, target=None)
    assert "stop_loss 105.0 ignored" in results[0].guard_notes[0].reason
    assert results[1].portfolio.positions["BTC-USDT"].stop_loss is None
