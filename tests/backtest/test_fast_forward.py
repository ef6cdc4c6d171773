"""Fast-forward (quiet cycles applied in bulk) gives exactly the per-cycle run's results: the same
instructions, fills, trades, equity curve point for point, digest and statistics, on the four real
hourly spot files and on the 5m perpetual files with stops and shorts; and it runs far fewer cycles
through the pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.backtest.helpers import BTC, ETH, HOUR, rsi_request
from tradeloop.backtest.runner import BacktestRun, BacktestSpec, run_backtest
from tradeloop.trading._internal.runtime import Components, StrategyRuntime
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.decision.rule_based import RuleBasedComposer
from tradeloop.trading.decision.vectorized import SideSignals
from tradeloop.trading.history.recorder import InMemoryHistoryRecorder
from tradeloop.trading.models import CycleResult, TradeAction, UserRequest

HOURLY = ("BTC", "ETH", "SOL", "BNB")
PERPS = ("BTC", "ETH", "SOL")


class EveryCycleKept(DefaultStrategyAgent):
    """The default agent with a recorder that keeps every cycle it is given, for comparison."""

    def __init__(self) -> None:
        self.recorder = InMemoryHistoryRecorder()

    async def create_runtime(
        self,
        request: UserRequest,
        *,
        strategy_id: str | None = None,
        components: Components | None = None,
    ) -> StrategyRuntime:
        parts = dataclasses.replace(components or Components(), recorder=self.recorder)
        return await super().create_runtime(request, strategy_id=strategy_id, components=parts)


class RulesWithoutSignals(RuleBasedComposer):
    """The rules, as a custom composer that does not declare its signals."""

    def cycle_signals(self, features: Any) -> None:
        return None


class RulesOwnComposer(DefaultStrategyAgent):
    async def _create_decision_composer(self, request: UserRequest) -> RulesWithoutSignals:
        return RulesWithoutSignals(request)


class MacdCross(RuleBasedComposer):
    """A custom composer that opts in: opens long on a positive MACD histogram, closes on a
    negative one, and declares exactly that as its signals."""

    def _decide(self, values, rsi, position):
        qty = position.quantity if position is not None else 0.0
        hist = values.get("macd_hist")
        if hist is None:
            return TradeAction.HOLD
        if qty > 0:
            return TradeAction.CLOSE_LONG if hist < 0 else TradeAction.HOLD
        return TradeAction.OPEN_LONG if qty == 0 and hist > 0 else TradeAction.HOLD

    def cycle_signals(self, features):
        signals = {}
        for symbol in self.request.trading_config.symbols:
            hist = features.column(symbol, self.interval, "macd_hist")
            never = np.zeros(len(features.slots), dtype=bool)
            signals[symbol] = SideSignals(flat=hist > 0, long=hist < 0, short=never)
        return signals


class MacdAgent(EveryCycleKept):
    async def _create_decision_composer(self, request: UserRequest) -> MacdCross:
        return MacdCross(request)


def acted(cycles: list[CycleResult]) -> list[tuple]:
    """Every cycle that proposed, sent or filled anything, with what it did."""
    return [
        (
            c.slot_ts,
            [i.model_dump() for i in c.proposed],
            [i.model_dump() for i in c.instructions],
            [t.model_dump() for t in c.tx_results],
            [t.model_dump() for t in c.trades],
            c.strategy_summary.model_dump(),
        )
        for c in cycles
        if c.proposed or c.instructions or c.tx_results
    ]


async def both(spec: BacktestSpec) -> tuple[BacktestRun, BacktestRun, list[CycleResult]]:
    """The same spec cycle by cycle and fast-forwarded; asserts every result is identical."""
    slow_agent, fast_agent = EveryCycleKept(), EveryCycleKept()
    slow = await run_backtest(
        spec.model_copy(update={"fast_forward": False}), agent=slow_agent, run_id="bt_same"
    )
    fast = await run_backtest(spec, agent=fast_agent, run_id="bt_same")
    assert slow.pipeline_cycles == slow.cycles_done == slow.window.cycles
    assert fast.cycles_done == slow.cycles_done
    slow_cycles = await slow_agent.recorder.get_cycles()
    fast_cycles = await fast_agent.recorder.get_cycles()
    assert acted(fast_cycles) == acted(slow_cycles)
    assert fast.trades == slow.trades
    assert fast.equity_curve == slow.equity_curve  # point for point, exactly
    assert fast.digest == slow.digest
    assert fast.stats == slow.stats
    assert slow.stats is not None and fast.stats is not None
    assert fast.stats.final_equity == pytest.approx(slow.stats.final_equity, rel=1e-9, abs=0)
    return slow, fast, fast_cycles


def hourly_spec(data: Path, symbols: tuple[str, ...], **trading: Any) -> BacktestSpec:
    request = rsi_request(tuple(f"{s}-USDT" for s in symbols), **trading)
    files = [f"{s}-USDT@1h={data / f'binance_spot_{s}USDT_1h.csv'}" for s in symbols]
    return BacktestSpec(request=request, data=files)


def perp_spec(data: Path, symbols: tuple[str, ...], decide: int, **rules: Any) -> BacktestSpec:
    interval = "5m" if decide == 300 else "1h"
    request = UserRequest.model_validate(
        {
            "exchange_config": {
                "exchange_id": "bybit",
                "market_type": "perpetual",
                "fee_bps": 5.5,
                "max_slippage_bps": 2,
            },
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": [f"{s}-USDT" for s in symbols],
                "decide_interval": decide,
                "feature_intervals": [interval],
                "max_leverage": 3,
                "rules": {
                    "rsi_buy_below": 30,
                    "rsi_sell_above": 70,
                    "allow_short": True,
                    "position_size_pct": 0.3,
                    "stop_loss_pct": 1.5,
                    "take_profit_pct": 3.0,
                }
                | rules,
            },
        }
    )
    files = [str(data / f"bybit_linear_{s}USDT_5m.csv") for s in symbols]
    return BacktestSpec(request=request, data=files)


def stop_exits(run_cycles: list[CycleResult]) -> set[str]:
    return {
        str((i.meta or {}).get("trigger"))
        for c in run_cycles
        for i in c.instructions
        if (i.meta or {}).get("trigger")
    }


# --------------------------------------------------------------------------- small offline data


async def test_a_fast_forwarded_run_equals_the_per_cycle_run_on_the_bundled_candles() -> None:
    spec = BacktestSpec(request=rsi_request(("BTC-USDT", "ETH-USDT")), data=[str(BTC), str(ETH)])
    slow, fast, _ = await both(spec)
    assert slow.stats is not None and slow.stats.trades >= 4, "the window should trade"
    assert fast.pipeline_cycles < slow.pipeline_cycles / 5


async def test_fast_forward_stops_at_the_candle_that_touches_a_stop_or_a_target() -> None:
    request = rsi_request(
        ("BTC-USDT",), rules={"rsi_buy_below": 45, "rsi_sell_above": 90, "position_size_pct": 1}
    )
    for levels in ({"stop_loss_pct": 1.0}, {"take_profit_pct": 1.0}):
        rules = request.trading_config.rules.model_copy(update=levels)
        cfg = request.trading_config.model_copy(update={"rules": rules})
        spec = BacktestSpec(
            request=request.model_copy(update={"trading_config": cfg}), data=[str(BTC)]
        )
        _, _, cycles = await both(spec)
        assert stop_exits(cycles) == {next(iter(levels))[:-4]}


async def test_a_custom_composer_that_declares_its_signals_is_fast_forwarded_identically() -> None:
    spec = BacktestSpec(request=rsi_request(), data=[str(BTC)])
    slow_agent, fast_agent = MacdAgent(), MacdAgent()
    slow = await run_backtest(
        spec.model_copy(update={"fast_forward": False}), agent=slow_agent, run_id="bt_m"
    )
    fast = await run_backtest(spec, agent=fast_agent, run_id="bt_m")
    assert slow.stats is not None and slow.stats.trades >= 5
    assert fast.pipeline_cycles < slow.pipeline_cycles / 3
    assert acted(await fast_agent.recorder.get_cycles()) == acted(
        await slow_agent.recorder.get_cycles()
    )
    assert (fast.equity_curve, fast.digest, fast.stats) == (
        slow.equity_curve,
        slow.digest,
        slow.stats,
    )


async def test_a_composer_that_declares_no_signals_runs_every_cycle() -> None:
    run = await run_backtest(
        BacktestSpec(request=rsi_request(), data=[str(BTC)]), agent=RulesOwnComposer()
    )
    assert run.pipeline_cycles == run.cycles_done == run.window.cycles


async def test_a_run_kept_for_storing_runs_every_cycle() -> None:
    run = await run_backtest(BacktestSpec(request=rsi_request(), data=[str(BTC)]), storable=True)
    assert run.pipeline_cycles == run.window.cycles
    assert len(run.take_cycles_to_store()) == run.window.cycles


async def test_a_rule_position_opens_with_its_stop_and_target_around_the_price() -> None:
    request = rsi_request(
        ("BTC-USDT",),
        rules={"rsi_buy_below": 45, "rsi_sell_above": 90, "stop_loss_pct": 2, "take_profit_pct": 5},
    )
    agent = EveryCycleKept()
    await run_backtest(BacktestSpec(request=request, data=[str(BTC)]), agent=agent)
    opened = next(c for c in await agent.recorder.get_cycles() if c.instructions)
    price = next(fv.values["price"] for fv in opened.features if "price" in fv.values)
    inst = opened.instructions[0]
    assert inst.stop_loss == pytest.approx(price * 0.98, rel=1e-12)
    assert inst.take_profit == pytest.approx(price * 1.05, rel=1e-12)


@pytest.mark.parametrize("hours", [(3, 4, 7, 10, 11, 12), (3, 4, 5, 5, 9, 12, 13)])
async def test_a_snapshot_path_reports_what_a_snapshot_at_each_time_would(hours) -> None:
    clock = SimulatedClock(0)
    first = int(BTC.read_text().splitlines()[1].split(",")[0])
    times = np.array([first + h * HOUR for h in hours], dtype=np.int64)
    source = ReplayMarketDataSource({("BTC-USDT", "1h"): BTC}, clock)
    path = source.snapshot_path("BTC-USDT", times)
    expected = []
    for t in times.tolist():
        clock.set(t)
        entry = (await source.get_market_snapshot(["BTC-USDT"]))["BTC-USDT"]
        expected.append((entry["price"], entry["high"], entry["low"]))
    got = zip(path.price.tolist(), path.high.tolist(), path.low.tolist(), strict=True)
    assert list(got) == expected


# --------------------------------------------------------------------------- the real files


@pytest.mark.parametrize("symbol", HOURLY)
async def test_fast_forward_equals_per_cycle_on_each_real_hourly_file(
    shared_data: Path, symbol: str
) -> None:
    slow, fast, _ = await both(hourly_spec(shared_data, (symbol,)))
    assert slow.stats is not None and slow.stats.trades >= 20
    assert fast.pipeline_cycles < slow.pipeline_cycles / 20


async def test_fast_forward_equals_per_cycle_on_four_hourly_symbols_with_trend_and_stops(
    shared_data: Path,
) -> None:
    spec = hourly_spec(
        shared_data,
        HOURLY,
        rules={
            "rsi_buy_below": 35,
            "rsi_sell_above": 65,
            "trend_filter": True,
            "position_size_pct": 0.25,
            "stop_loss_pct": 3,
            "take_profit_pct": 6,
        },
    )
    last = int(
        (shared_data / "binance_spot_BTCUSDT_1h.csv").read_text().splitlines()[-1].split(",")[0]
    )
    slow, _, _ = await both(spec.model_copy(update={"start_ms": last - 4000 * HOUR}))
    assert slow.stats is not None and slow.stats.trades >= 20


async def test_fast_forward_equals_per_cycle_on_the_5m_perpetuals_with_stops_and_shorts(
    shared_data: Path,
) -> None:
    slow, _, cycles = await both(perp_spec(shared_data, PERPS, 3600))
    assert slow.stats is not None and slow.stats.trades >= 20
    assert stop_exits(cycles) == {"stop_loss", "take_profit"}
    assert any(i.action == "open_short" for c in cycles for i in c.instructions)


async def test_fast_forward_equals_per_cycle_deciding_every_5m_on_a_perpetual(
    shared_data: Path,
) -> None:
    spec = perp_spec(shared_data, ("SOL",), 300, stop_loss_pct=0.8, take_profit_pct=1.2)
    first = int(
        (shared_data / "bybit_linear_SOLUSDT_5m.csv").read_text().splitlines()[1].split(",")[0]
    )
    slow, _, _ = await both(spec.model_copy(update={"end_ms": first + 8000 * 300_000}))
    assert slow.stats is not None and slow.stats.trades >= 20
