"""The trade digest against values computed by hand for a small series.

Conventions stated here, not imported: a year is 365 days of 24 hours, so hourly cycles annualize a
per-cycle Sharpe ratio by sqrt(8760); Sharpe uses the sample standard deviation (n - 1), Sortino the
downside deviation sqrt(mean(min(r, 0)^2)) over all n returns; returns are simple returns between
consecutive cycle equities, the first one from the initial capital (so the series below start at
their second point and leave the first to the capital); drawdown and total return are in percent; a
round trip wins when its realized PnL minus its round-trip fees is above zero; win_rate is a fraction.
"""

from __future__ import annotations

import math
from collections import deque

import pytest

from tradeloop.trading.history.digest import (
    DigestState,
    RollingDigestBuilder,
    sharpe_ratio,
    to_digest,
)
from tradeloop.trading.models import (
    CycleResult,
    InstrumentRef,
    LLMUsage,
    StrategySummary,
    TradeHistoryEntry,
    TradeSide,
    TradeType,
)

HOUR_MS = 3_600_000


def trade(
    symbol: str, pnl: float | None, fee: float, entry_ts: int, exit_ts: int | None
) -> TradeHistoryEntry:
    closed = exit_ts is not None
    return TradeHistoryEntry(
        trade_id=f"{symbol}{entry_ts}",
        compose_id="c",
        instruction_id="c:0",
        instrument=InstrumentRef(symbol=symbol),
        side=TradeSide.SELL if closed else TradeSide.BUY,
        type=TradeType.LONG,
        quantity=1.0,
        entry_price=100.0,
        exit_price=100.0 + (pnl or 0.0) if closed else None,
        entry_ts=entry_ts,
        exit_ts=exit_ts,
        realized_pnl=pnl,
        holding_ms=(exit_ts - entry_ts) if closed else None,
        fee_cost=fee,
    )


def cycle(i: int, equity: float, trades=(), fees: float = 0.0, realized: float = 0.0, cost=None):
    return CycleResult(
        compose_id=f"c{i}",
        strategy_id="s",
        ts=i * HOUR_MS,
        trades=list(trades),
        usage=LLMUsage(model="m", cost_usd=cost) if cost is not None else None,
        strategy_summary=StrategySummary(
            strategy_id="s",
            ts=i * HOUR_MS,
            equity=equity,
            cash=equity,
            realized_pnl=realized,
            unrealized_pnl=0.0,
            fees_paid=fees,
            total_return_pct=0.0,
            open_positions=0,
        ),
    )


async def digest_of(cycles, initial: float = 100.0):
    builder = RollingDigestBuilder(interval_s=3600, window=500, initial_capital=initial)
    digest = None
    for c in cycles:
        digest = await builder.update(c)
    return digest


async def test_sharpe_drawdown_and_return_of_a_small_hourly_series() -> None:
    # equity 100 -> 110 -> 99 -> 108.9: returns +10 %, -10 %, +10 %
    # mean 1/30, sample stdev sqrt(((2/30)^2 * 2 + (4/30)^2) / 2) = sqrt(12)/30,
    # per-cycle Sharpe 1 / sqrt(12); annualized sqrt(8760 / 12) = sqrt(730) = 27.0185...
    # downside deviation sqrt(0.1^2 / 3): per-cycle Sortino (1/30) / (0.1 / sqrt(3)) = 1 / sqrt(3),
    # annualized sqrt(8760 / 3) = sqrt(2920) = 54.037...
    digest = await digest_of([cycle(1, 110), cycle(2, 99), cycle(3, 108.9)], initial=100.0)
    assert digest.sharpe_ratio == pytest.approx(math.sqrt(730), rel=1e-9)
    assert digest.sortino_ratio == pytest.approx(math.sqrt(2920), rel=1e-9)
    assert digest.max_drawdown_pct == pytest.approx(10.0)  # 110 -> 99
    assert digest.total_return_pct == pytest.approx(8.9)  # percent, not the fraction 0.089
    assert digest.equity == 108.9


async def test_total_return_is_measured_from_the_initial_capital() -> None:
    digest = await digest_of([cycle(0, 120), cycle(1, 150)], initial=100.0)
    assert digest.total_return_pct == pytest.approx(50.0)
    assert digest.max_drawdown_pct == 0.0


async def test_the_deepest_drawdown_is_kept_after_a_new_peak() -> None:
    # peak 200, trough 150 (25 %), new peak 300, trough 240 (20 %): the 25 % stays
    digest = await digest_of([cycle(i, e) for i, e in enumerate([100, 200, 150, 300, 240])])
    assert digest.max_drawdown_pct == pytest.approx(25.0)


async def test_a_falling_series_has_a_negative_sharpe_and_a_constant_one_none() -> None:
    # returns -10 %, -20 %: mean -0.15, stdev sqrt(0.005) -> per-cycle -0.15/0.0707 = -2.1213;
    # downside deviation sqrt((0.01 + 0.04) / 2) = sqrt(0.025)
    digest = await digest_of([cycle(1, 90), cycle(2, 72)])
    assert digest.sharpe_ratio == pytest.approx(-0.15 / math.sqrt(0.005) * math.sqrt(8760))
    assert digest.sortino_ratio == pytest.approx(-0.15 / math.sqrt(0.025) * math.sqrt(8760))
    flat = await digest_of([cycle(1, 100), cycle(2, 100)])
    assert (flat.sharpe_ratio, flat.sortino_ratio) == (None, None)
    one_return = await digest_of([cycle(1, 110)])
    assert (one_return.sharpe_ratio, one_return.sortino_ratio) == (None, None)
    rising = await digest_of([cycle(1, 110), cycle(2, 115)])
    assert rising.sortino_ratio is None and rising.sharpe_ratio > 0  # no loss: no downside


async def test_the_first_return_is_measured_from_the_initial_capital() -> None:
    # 100 (capital) -> 110 -> 99: returns +10 %, -10 %: mean 0 up to rounding, so Sharpe ~0
    digest = await digest_of([cycle(1, 110), cycle(2, 99)], initial=100.0)
    assert digest.sharpe_ratio == pytest.approx(0.0, abs=1e-9)


async def test_the_headline_ratios_cover_the_whole_history_and_the_recent_one_its_window() -> None:
    # a long fall then a short rise: capital 100 -> 90 -> 80 -> 70 -> 77 -> 84.7 (window: 2 returns)
    # whole history: returns -1/10, -1/9, -1/8, +1/10, +1/10; the last two alone: +10 %, +10 %
    equity = [90, 80, 70, 77, 84.7]
    builder = RollingDigestBuilder(interval_s=3600, window=2, initial_capital=100.0)
    for i, value in enumerate(equity, start=1):
        digest = await builder.update(cycle(i, value))
    returns = [-1 / 10, -1 / 9, -1 / 8, 1 / 10, 1 / 10]
    mean = sum(returns) / 5
    stdev = math.sqrt(sum((r - mean) ** 2 for r in returns) / 4)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / 5)
    assert digest.sharpe_ratio == pytest.approx(mean / stdev * math.sqrt(8760), rel=1e-9)
    assert digest.sortino_ratio == pytest.approx(mean / downside * math.sqrt(8760), rel=1e-9)
    assert digest.sharpe_ratio < 0 and digest.total_return_pct < 0  # they tell the same story
    assert digest.sharpe_ratio_recent is None  # +10 % twice: no spread
    assert digest.recent_window == 2


async def test_round_trip_figures_count_wins_net_of_fees_and_average_the_holding_time() -> None:
    cycles = [
        cycle(0, 100),
        cycle(1, 100, [trade("BTC-USDT", 10.0, 1.0, 0, 2 * HOUR_MS)]),  # net +9: win
        cycle(2, 100, [trade("BTC-USDT", 0.5, 1.0, HOUR_MS, 5 * HOUR_MS)]),  # net -0.5: loss
        cycle(3, 100, [trade("BTC-USDT", -4.0, 1.0, 0, 3 * HOUR_MS)]),  # net -5: loss
        cycle(4, 100, [trade("BTC-USDT", None, 0.1, 9 * HOUR_MS, None)]),  # still open
        cycle(5, 100, [trade("ETH-USDT", 2.0, 0.0, 0, HOUR_MS)], fees=3.1, realized=8.5, cost=0.02),
    ]
    digest = await digest_of(cycles)
    btc = digest.by_instrument["BTC-USDT"]
    assert btc.trade_count == 3  # the open entry is not a round trip
    assert btc.win_rate == pytest.approx(1 / 3)
    assert btc.realized_pnl == pytest.approx(6.5)  # gross: 10 + 0.5 - 4
    assert btc.avg_holding_ms == 3 * HOUR_MS  # (2 h + 4 h + 3 h) / 3
    assert btc.last_trade_ts == 9 * HOUR_MS  # the open entry's time is the latest activity
    eth = digest.by_instrument["ETH-USDT"]
    assert (eth.trade_count, eth.win_rate, eth.avg_holding_ms) == (1, 1.0, HOUR_MS)
    assert list(digest.by_instrument) == ["BTC-USDT", "ETH-USDT"]
    assert (digest.fees_paid, digest.realized_pnl) == (3.1, 8.5)  # the latest cycle's summary
    assert digest.llm_cost_usd == pytest.approx(0.02)
    assert digest.ts == 5 * HOUR_MS


async def test_a_round_trip_that_exactly_covers_its_fees_is_not_a_win() -> None:
    digest = await digest_of([cycle(0, 100, [trade("BTC-USDT", 1.0, 1.0, 0, HOUR_MS)])])
    assert digest.by_instrument["BTC-USDT"].win_rate == 0.0


async def test_a_zero_equity_point_has_no_return_to_the_next_one() -> None:
    # capital 100 -> 100 is 0 %; 100 -> 0 is -100 %; 0 -> 50 has no return; 50 -> 60 is +20 %:
    # returns 0, -1, 1/5: mean -4/15, sample variance (16 + 121 + 49) / 225 / 2 = 93/225,
    # per-cycle Sharpe (-4/15) / (sqrt(93)/15) = -4 / sqrt(93)
    digest = await digest_of([cycle(i, e) for i, e in enumerate([100, 0, 50, 60], start=1)])
    assert digest.sharpe_ratio == pytest.approx(-4 / math.sqrt(93) * math.sqrt(8760))
    assert digest.max_drawdown_pct == pytest.approx(100.0)


async def test_llm_costs_add_up_and_holding_times_average_down_to_the_millisecond() -> None:
    closed = [
        trade("BTC-USDT", 1.0, 0.0, 0, 1),  # held 1 ms
        trade("BTC-USDT", 1.0, 0.0, 0, 1),
        trade("BTC-USDT", 1.0, 0.0, 0, 2),  # 4 ms over 3 trades: 1 ms on average, floored
    ]
    cycles = [
        cycle(0, 100, closed[:1], cost=0.25),
        cycle(1, 100, closed[1:], cost=0.5),
        cycle(2, 100),
    ]
    digest = await digest_of(cycles)
    assert digest.llm_cost_usd == pytest.approx(0.75)
    assert digest.by_instrument["BTC-USDT"].avg_holding_ms == 1
    assert digest.recent_window == 500


async def test_a_closed_trade_without_pnl_or_holding_time_counts_as_zero_of_each() -> None:
    bare = trade("ETH-USDT", 1.0, 0.0, 0, HOUR_MS).model_copy(
        update={"realized_pnl": None, "holding_ms": None}
    )
    digest = await digest_of([cycle(0, 100, [bare])])
    entry = digest.by_instrument["ETH-USDT"]
    assert (entry.trade_count, entry.realized_pnl, entry.win_rate, entry.avg_holding_ms) == (
        1,
        0.0,
        0.0,
        0,
    )
    assert entry.last_trade_ts == HOUR_MS


async def test_equity_below_one_quote_unit_still_has_returns() -> None:
    # the 100 -> 110 -> 99 -> 108.9 series scaled down 200 times: the same returns and Sharpe
    digest = await digest_of(
        [cycle(i, e) for i, e in enumerate([0.55, 0.495, 0.5445], start=1)], initial=0.5
    )
    assert digest.sharpe_ratio == pytest.approx(math.sqrt(730), rel=1e-9)
    assert sharpe_ratio([0.5, 0.55, 0.495, 0.5445], 3600) == pytest.approx(math.sqrt(730))


def test_the_plain_sharpe_function_skips_a_zero_point_and_has_none_for_a_flat_series() -> None:
    assert sharpe_ratio([100, 0, 50, 60], 3600) == pytest.approx(
        -0.4 / math.sqrt(0.72) * math.sqrt(8760)
    )
    assert sharpe_ratio([100, 100, 100], 3600) is None
    assert sharpe_ratio([100, 110], 3600) is None


def test_a_state_given_only_its_equity_window_computes_the_same_digest() -> None:
    state = DigestState(
        interval_s=3600,
        window=500,
        initial_capital=100.0,
        equity=deque([100.0, 110.0, 99.0, 108.9]),
        last_equity=108.9,
        ts=5,
    )
    digest = to_digest(state, ts=123)
    assert digest.sharpe_ratio_recent == pytest.approx(math.sqrt(730), rel=1e-9)
    assert digest.sharpe_ratio is None  # the whole history's sums were not given
    assert digest.ts == 123
    assert to_digest(state).ts == 5


async def test_a_small_net_gain_is_a_win_and_a_trade_without_times_has_no_last_time() -> None:
    small = trade("BTC-USDT", 1.5, 1.0, 0, HOUR_MS)  # net +0.5
    timeless = trade("ETH-USDT", None, 0.0, 0, None).model_copy(update={"entry_ts": None})
    digest = await digest_of([cycle(0, 100, [small, timeless])])
    assert digest.by_instrument["BTC-USDT"].win_rate == 1.0
    eth = digest.by_instrument["ETH-USDT"]
    assert (eth.trade_count, eth.last_trade_ts) == (0, None)
