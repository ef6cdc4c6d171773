"""The rolling digest: folded in place, equal to an independent computation and to a refold."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from tradeloop.trading.history.digest import (
    DigestAccumulator,
    DigestState,
    RollingDigestBuilder,
    fold_cycle,
    sharpe_ratio,
    to_digest,
)
from tradeloop.trading.history.recorder import InMemoryHistoryRecorder
from tradeloop.trading.models import (
    CycleResult,
    InstrumentRef,
    LLMUsage,
    StrategySummary,
    TradeHistoryEntry,
    TradeSide,
    TradeType,
)

HOUR_S = 3600
WINDOW = 7


def cycles(count: int, seed: int = 7) -> list[CycleResult]:
    """A random walk of equity with a round trip every few cycles on two symbols."""
    rng = random.Random(seed)
    equity, realized, fees, out = 10_000.0, 0.0, 0.0, []
    for i in range(count):
        equity *= 1 + rng.uniform(-0.02, 0.021)
        trades = []
        if i % 4 == 3:
            pnl = rng.uniform(-50, 60)
            realized, fees = realized + pnl, fees + 1.5
            trades.append(
                TradeHistoryEntry(
                    trade_id=f"t{i}",
                    compose_id=f"c{i}",
                    instruction_id=f"c{i}:0",
                    instrument=InstrumentRef(symbol="BTC-USDT" if i % 8 == 3 else "ETH-USDT"),
                    side=TradeSide.SELL,
                    type=TradeType.LONG,
                    quantity=0.1,
                    entry_price=100.0,
                    exit_price=101.0,
                    entry_ts=(i - 2) * HOUR_S * 1000,
                    exit_ts=i * HOUR_S * 1000,
                    realized_pnl=pnl,
                    holding_ms=2 * HOUR_S * 1000,
                    fee_cost=0.75,
                    round_trip_fees=1.5,
                )
            )
        out.append(
            CycleResult(
                compose_id=f"c{i}",
                strategy_id="s",
                ts=i * HOUR_S * 1000,
                trades=trades,
                usage=LLMUsage(model="m", cost_usd=0.01) if i % 3 == 0 else None,
                strategy_summary=StrategySummary(
                    strategy_id="s",
                    ts=i * HOUR_S * 1000,
                    equity=equity,
                    cash=equity,
                    realized_pnl=realized,
                    unrealized_pnl=0.0,
                    fees_paid=fees,
                    total_return_pct=(equity / 10_000 - 1) * 100,
                    open_positions=0,
                ),
            )
        )
    return out


def empty() -> DigestState:
    return DigestState(interval_s=HOUR_S, window=WINDOW, initial_capital=10_000.0)


async def test_the_rolling_digest_equals_an_independent_computation() -> None:
    history = cycles(60)
    builder = RollingDigestBuilder(interval_s=HOUR_S, window=WINDOW, initial_capital=10_000.0)
    for result in history:
        digest = await builder.update(result)
    equity = [c.strategy_summary.equity for c in history]
    recent_sharpe = sharpe_ratio(equity[-(WINDOW + 1) :], HOUR_S)
    assert digest.sharpe_ratio_recent is not None and recent_sharpe is not None
    assert math.isclose(digest.sharpe_ratio_recent, recent_sharpe, rel_tol=1e-9)
    levels = [10_000.0, *equity]  # the first return is measured from the initial capital
    returns = [b / a - 1 for a, b in zip(levels, levels[1:], strict=False)]
    mean = statistics.mean(returns)
    annualize = math.sqrt(365 * 24 * 3600 / HOUR_S)
    assert digest.sharpe_ratio == pytest.approx(mean / statistics.stdev(returns) * annualize)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    assert digest.sortino_ratio == pytest.approx(mean / downside * annualize)
    peak, worst = equity[0], 0.0
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, (peak - value) / peak * 100)
    assert digest.max_drawdown_pct == pytest.approx(worst, rel=1e-12)
    assert digest.equity == equity[-1]
    assert digest.fees_paid == history[-1].strategy_summary.fees_paid
    assert digest.llm_cost_usd == pytest.approx(0.01 * 20)
    trades = [t for c in history for t in c.trades]
    for symbol in ("BTC-USDT", "ETH-USDT"):
        mine = [t for t in trades if t.instrument.symbol == symbol]
        entry = digest.by_instrument[symbol]
        assert entry.trade_count == len(mine)
        assert entry.realized_pnl == pytest.approx(sum(t.realized_pnl or 0 for t in mine))
        wins = sum(
            1 for t in mine if (t.realized_pnl or 0) - t.fee_cost > 0
        )  # fee_cost: round trip
        assert entry.win_rate == pytest.approx(wins / len(mine))
        assert entry.last_trade_ts == mine[-1].exit_ts
    assert list(digest.by_instrument) == sorted(digest.by_instrument)


async def test_folding_in_place_equals_the_pure_fold_and_a_refold_in_two_parts() -> None:
    history = cycles(40)
    state = empty()
    for result in history:
        before = state
        state = fold_cycle(state, result)
        assert before is not state
    assert len(before.equity) <= WINDOW + 1  # the input of the last fold was left as it was

    builder = RollingDigestBuilder(interval_s=HOUR_S, window=WINDOW, initial_capital=10_000.0)
    for result in history:
        await builder.update(result)
    assert builder.state == state
    assert await builder.build() == to_digest(state)

    first = DigestAccumulator(empty())
    for result in history[:25]:
        first.fold(result)
    second = DigestAccumulator(first.state())
    for result in history[25:]:
        second.fold(result)
    assert second.state() == state
    assert second.digest() == to_digest(state)


async def test_build_restamps_only_when_asked_and_a_reset_state_takes_effect() -> None:
    history = cycles(10)
    builder = RollingDigestBuilder(interval_s=HOUR_S, window=WINDOW, initial_capital=10_000.0)
    assert (await builder.build()).equity is None
    for result in history:
        await builder.update(result)
    assert (await builder.build()).ts == history[-1].ts
    assert (await builder.build(ts=123)).ts == 123
    assert (await builder.build()).ts == history[-1].ts
    builder.state = empty()
    assert (await builder.build()).equity is None
    assert builder.peak_equity is None


async def test_the_in_memory_recorder_keeps_the_latest_cycles_and_every_trade() -> None:
    history = cycles(30)
    recorder = InMemoryHistoryRecorder(keep_cycles=5)
    for result in history:
        await recorder.record(result)
    assert [c.compose_id for c in await recorder.get_cycles()] == [f"c{i}" for i in range(25, 30)]
    assert [c.compose_id for c in await recorder.get_cycles(limit=2)] == ["c28", "c29"]
    assert len(await recorder.get_trades()) == sum(len(c.trades) for c in history)
