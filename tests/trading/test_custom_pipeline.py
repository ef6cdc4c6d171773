"""A features pipeline written like the spec's "Adding Custom Indicators" example returns indicator
vectors only (no market snapshot): it still trades, priced from the strategy's market data, and
without any price source its orders are dropped with a reason that says what is missing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.fakes import ScriptedComposer
from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import BaseStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.features import BaseFeaturesPipeline
from tradeloop.trading.models import (
    Candle,
    CycleStatus,
    ExchangeConfig,
    FeaturesPipelineResult,
    FeatureVector,
    InstrumentRef,
    TradeSide,
    TradingConfig,
    TxStatus,
    UserRequest,
)

HOUR_MS = 3_600_000
SLIPPAGE_BPS = 5


def compute_rsi(candles: list[Candle]) -> dict[str, float]:
    """RSI over the window, plain averages (the spec leaves the indicator code to the user)."""
    out = {}
    for symbol in {c.instrument.symbol for c in candles}:
        closes = [c.close for c in candles if c.instrument.symbol == symbol]
        moves = [b - a for a, b in zip(closes, closes[1:], strict=False)]
        gains = sum(m for m in moves if m > 0)
        losses = -sum(m for m in moves if m < 0)
        out[symbol] = 100.0 if losses == 0 else 100 - 100 / (1 + gains / losses)
    return out


def compute_custom_indicator(candles: list[Candle]) -> dict[str, float]:
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for c in candles:
        first.setdefault(c.instrument.symbol, c.close)
        last[c.instrument.symbol] = c.close
    return {s: last[s] / first[s] - 1 for s in last}


class CustomFeaturesPipeline(BaseFeaturesPipeline):
    """As in the spec: fetch candles, compute indicators, one vector of them per symbol."""

    def __init__(self, market_data: BaseMarketDataSource, symbols: list[str], clock) -> None:
        self.market_data = market_data
        self.symbols = symbols
        self.clock = clock

    async def build(self) -> FeaturesPipelineResult:
        candles = await self.market_data.get_recent_candles(self.symbols, "1h", 50)
        rsi = compute_rsi(candles)
        my_signal = compute_custom_indicator(candles)
        timestamp = self.clock.now_ms()
        features = []
        for symbol in self.symbols:
            features.append(
                FeatureVector(
                    ts=timestamp,
                    instrument=InstrumentRef(symbol=symbol),
                    values={"rsi": rsi[symbol], "custom_signal": my_signal[symbol]},
                )
            )
        return FeaturesPipelineResult(features=features)


class CustomAgent(BaseStrategyAgent):
    def __init__(self, market_data: BaseMarketDataSource, clock) -> None:
        self.market_data, self.clock = market_data, clock

    async def _build_features_pipeline(self, request: UserRequest) -> BaseFeaturesPipeline:
        return CustomFeaturesPipeline(self.market_data, request.trading_config.symbols, self.clock)

    async def _create_decision_composer(self, request: UserRequest):
        return ScriptedComposer([[("BTC-USDT", TradeSide.BUY, 0.01, None)]])


def request() -> UserRequest:
    return UserRequest(
        exchange_config=ExchangeConfig(max_slippage_bps=SLIPPAGE_BPS),
        trading_config=TradingConfig(initial_capital=10_000, symbols=["BTC-USDT"]),
    )


def latest_close(path: Path, now_ms: int) -> float:
    """The close of the last 1h candle closed at ``now_ms``, read from the CSV itself."""
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["timestamp"]) + HOUR_MS <= now_ms]
    return float(rows[-1]["close"])


async def test_a_pipeline_of_indicators_only_trades_at_the_market_datas_latest_close(
    shared_data: Path,
) -> None:
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource.from_dir(shared_data, clock, venue="binance_spot")
    clock.set(source.start_ms(60, ["1h"], ["BTC-USDT"]) + 7 * HOUR_MS)
    agent = CustomAgent(source, clock)
    runtime = await agent.create_runtime(
        request(), components=Components(market_data=source, clock=clock)
    )
    result = await runtime.coordinator.run_once()
    assert result.status is CycleStatus.OK
    assert result.guard_notes == []
    [tx] = result.tx_results
    assert tx.status is TxStatus.FILLED and tx.filled_qty == 0.01
    close = latest_close(shared_data / "binance_spot_BTCUSDT_1h.csv", clock.now_ms())
    assert tx.avg_exec_price == pytest.approx(close * (1 + SLIPPAGE_BPS / 10_000), rel=1e-12)
    assert result.portfolio.positions["BTC-USDT"].mark_price == close
    assert {"rsi", "custom_signal"} <= set(result.features[0].values)  # the pipeline's own


async def test_without_a_price_source_the_drop_reason_names_the_missing_snapshot_vector(
    shared_data: Path,
) -> None:
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource.from_dir(shared_data, clock, venue="binance_spot")
    clock.set(source.start_ms(60, ["1h"], ["BTC-USDT"]))
    runtime = await CustomAgent(source, clock).create_runtime(
        request(),
        components=Components(clock=clock),  # the pipeline's source is its own secret
    )
    result = await runtime.coordinator.run_once()
    assert result.status is CycleStatus.OK and result.instructions == []
    [note] = result.guard_notes
    assert note.reason.startswith("no current price for BTC-USDT")
    assert "'market_snapshot' vector" in note.reason and "values.price" in note.reason
