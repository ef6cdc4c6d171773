"""compute_stats against values computed by hand for small curves.

Conventions stated here, not imported: a year is 365 days of 24 hours (8760 hours); Sharpe divides
by the sample standard deviation (n - 1), Sortino by the downside deviation sqrt(mean(min(r, 0)^2))
over all returns; the first return is measured from the initial capital; percentages are percent.
"""

from __future__ import annotations

import math

import pytest

from tests.backtest.helpers import HOUR, curve, opened, round_trip
from tradeloop.backtest.stats import EquityPoint, compute_stats, equity_point
from tradeloop.trading.models import CycleResult, PortfolioView, StrategySummary

YEAR_MS = 365 * 24 * HOUR


def test_hourly_sharpe_and_sortino_of_three_returns() -> None:
    # initial 100, curve 110, 99, 108.9: returns +10 %, -10 %, +10 %
    # mean 1/30; sample stdev sqrt(12)/30 -> per-hour Sharpe 1/sqrt(12), x sqrt(8760) = sqrt(730)
    # downside sqrt(0.01 / 3) -> per-hour Sortino 1/sqrt(3), x sqrt(8760) = sqrt(2920)
    stats = compute_stats([], curve(110, 99, 108.9), initial_capital=100)
    assert stats.sharpe_ratio == pytest.approx(math.sqrt(730), rel=1e-9)
    assert stats.sortino_ratio == pytest.approx(math.sqrt(2920), rel=1e-9)
    assert stats.total_return_pct == pytest.approx(8.9)
    assert stats.max_drawdown_pct == pytest.approx(10.0)
    assert stats.max_drawdown_duration_ms == 2 * HOUR  # still below the 110 peak at hour 2
    assert (stats.start_ts, stats.end_ts, stats.points) == (0, 2 * HOUR, 3)
    assert (stats.initial_equity, stats.final_equity) == (100, 108.9)


def test_yearly_points_annualize_by_one_and_compound_the_annual_return() -> None:
    # returns from 100: 0 %, +10 %, +10 % -> mean 1/15, stdev sqrt(1/300) -> Sharpe 2/sqrt(3)
    points = [EquityPoint(i * YEAR_MS, e) for i, e in enumerate([100.0, 110.0, 121.0])]
    stats = compute_stats([], points, initial_capital=100)
    assert stats.sharpe_ratio == pytest.approx(2 / math.sqrt(3), rel=1e-9)
    assert stats.sortino_ratio is None  # no return below zero
    assert stats.annual_return_pct == pytest.approx(10.0)  # 121 after two years from 100
    assert stats.total_return_pct == pytest.approx(21.0)


def test_a_gain_too_fast_to_annualize_has_no_annual_return_rather_than_an_infinite_one() -> None:
    # 100 -> 110 in one hour compounds to 1.1 ** 8760 a year (about 1e362, beyond a float): no
    # annual figure and so no Calmar, while 100 -> 101 in a day still annualizes (1.01 ** 365)
    fast = compute_stats([], [EquityPoint(0, 100.0), EquityPoint(HOUR, 110.0)], initial_capital=100)
    assert fast.annual_return_pct is None
    assert fast.calmar_ratio is None
    assert fast.total_return_pct == pytest.approx(10.0)
    day = compute_stats(
        [], [EquityPoint(0, 100.0), EquityPoint(24 * HOUR, 101.0)], initial_capital=100
    )
    assert day.annual_return_pct == pytest.approx((1.01**365 - 1) * 100, rel=1e-9)


def test_the_drawdown_duration_is_the_longest_time_below_a_peak() -> None:
    # peak 120 at hour 1, last point below it at hour 4 (130 at hour 5 recovers): 3 hours;
    # the 10 % dip below 130 at hour 6 lasts 1 hour
    stats = compute_stats([], curve(100, 120, 90, 100, 110, 130, 117), initial_capital=100)
    assert stats.max_drawdown_pct == pytest.approx(25.0)
    assert stats.max_drawdown_duration_ms == 3 * HOUR


def test_trade_figures_by_hand() -> None:
    # net of fees: 10 - 1 = 9 (win), 0.5 - 1 = -0.5 (loss), -4 - 1 = -5 (loss), 6 - 0 = 6 (win)
    trades = [
        round_trip(10, fee=1),
        round_trip(0.5, fee=1),
        round_trip(-4, fee=1),
        round_trip(6, entry=200, qty=2),
        opened(),
    ]
    stats = compute_stats(trades, curve(100, 105), initial_capital=100)
    assert stats.trades == 4
    assert stats.win_rate_pct == pytest.approx(50.0)
    assert stats.profit_factor == pytest.approx(15 / 5.5)
    # percent of entry notional: 9/100, -0.5/100, -5/100, 6/400
    assert stats.best_trade_pct == pytest.approx(9.0)
    assert stats.worst_trade_pct == pytest.approx(-5.0)
    assert stats.avg_trade_pct == pytest.approx((9 - 0.5 - 5 + 1.5) / 4)
    assert stats.avg_holding_ms == HOUR


def test_a_round_trip_that_only_covers_its_fees_is_a_loss_of_nothing() -> None:
    stats = compute_stats([round_trip(1, fee=1)], curve(100, 100), initial_capital=100)
    assert stats.win_rate_pct == 0.0
    assert stats.profit_factor is None  # nothing won, nothing lost


def test_exposure_is_the_percent_of_points_holding_a_position() -> None:
    points = [
        EquityPoint(0, 100, gross_exposure=50, fees_paid=0.1),
        EquityPoint(HOUR, 100, gross_exposure=0, fees_paid=0.1),
        EquityPoint(2 * HOUR, 100, gross_exposure=1, fees_paid=0.3),
    ]
    stats = compute_stats([], points)
    assert stats.exposure_pct == pytest.approx(200 / 3)
    assert stats.fees_paid == 0.3
    assert stats.initial_equity == 100  # defaults to the first point


def test_a_curve_point_is_read_from_a_recorded_cycle() -> None:
    summary = StrategySummary(
        strategy_id="s",
        ts=7,
        equity=101.5,
        cash=50.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        fees_paid=0.25,
        total_return_pct=1.5,
        open_positions=1,
    )
    view = PortfolioView(strategy_id="s", ts=7, account_balance=50.0, gross_exposure=51.5)
    result = CycleResult(compose_id="c", strategy_id="s", ts=7, strategy_summary=summary)
    assert equity_point(result) == EquityPoint(7, 101.5, 0.0, 0.25)  # no portfolio: no exposure
    with_view = result.model_copy(update={"portfolio": view})
    assert equity_point(with_view) == EquityPoint(7, 101.5, 51.5, 0.25)


def test_a_run_from_zero_capital_has_no_ratios_and_no_return() -> None:
    stats = compute_stats([], curve(0, 10, 20), initial_capital=0)
    assert (stats.sharpe_ratio, stats.sortino_ratio, stats.annual_return_pct) == (None, None, None)
    assert stats.total_return_pct == 0.0


def test_one_point_or_a_wiped_out_account_has_no_annual_return_or_ratios() -> None:
    one = compute_stats([], curve(110), initial_capital=100)
    assert (one.sharpe_ratio, one.sortino_ratio, one.annual_return_pct) == (None, None, None)
    assert one.total_return_pct == pytest.approx(10.0)
    assert one.max_drawdown_duration_ms == 0
    wiped = compute_stats([], curve(50, 0), initial_capital=100)
    assert wiped.annual_return_pct is None
    assert wiped.max_drawdown_pct == pytest.approx(100.0)
    same_time = compute_stats(
        [], [EquityPoint(5, 110.0), EquityPoint(5, 120.0)], initial_capital=100
    )
    assert (same_time.annual_return_pct, same_time.sharpe_ratio) == (None, None)


def test_a_round_trip_with_no_entry_notional_counts_zero_percent() -> None:
    free = round_trip(2, entry=0.0).model_copy(update={"entry_price": None})
    stats = compute_stats([free, round_trip(-1)], curve(100, 100), initial_capital=100)
    assert (stats.best_trade_pct, stats.worst_trade_pct) == (0.0, -1.0)
    assert stats.avg_trade_pct == pytest.approx(-0.5)
    assert stats.profit_factor == pytest.approx(2.0)


def test_payoff_profit_factor_and_win_rate_count_small_wins_and_leave_break_evens_out() -> None:
    # net of fees: +0.5 (entry notional 0.5: +100 %), +9.5 (+9.5 %), -0.5 (-0.5 %), 1 - 1 = 0 (0 %)
    trades = [
        round_trip(0.5, entry=0.5),
        round_trip(9.5),
        round_trip(-0.5),
        round_trip(1, fee=1),
    ]
    stats = compute_stats(trades, curve(100, 100), initial_capital=100)
    assert stats.win_rate_pct == pytest.approx(50.0)  # 2 of 4
    assert stats.profit_factor == pytest.approx(20.0)  # won 10 / lost 0.5
    assert stats.payoff_ratio == pytest.approx(10.0)  # average win 5 / average loss 0.5
    assert (stats.best_trade_pct, stats.worst_trade_pct) == (pytest.approx(100.0), -0.5)
    assert stats.avg_trade_pct == pytest.approx((100 + 9.5 - 0.5 + 0) / 4)


def test_the_payoff_ratio_of_the_hand_computed_trades_and_none_without_wins_or_losses() -> None:
    # net 9, -0.5, -5, 6: average win 7.5 over average loss 2.75
    trades = [round_trip(10, fee=1), round_trip(0.5, fee=1), round_trip(-4, fee=1), round_trip(6)]
    assert compute_stats(trades, curve(100)).payoff_ratio == pytest.approx(7.5 / 2.75)
    only_wins = compute_stats([round_trip(3), round_trip(1)], curve(100))
    only_losses = compute_stats([round_trip(-3), round_trip(-1)], curve(100))
    assert (only_wins.payoff_ratio, only_losses.payoff_ratio) == (None, None)


def test_the_average_holding_time_is_whole_milliseconds_and_counts_an_unknown_one_as_zero() -> None:
    trades = [
        round_trip(1).model_copy(update={"holding_ms": 3}),
        round_trip(2).model_copy(update={"holding_ms": None}),
    ]
    assert compute_stats(trades, curve(100)).avg_holding_ms == 1  # (3 + 0) // 2


def test_two_yearly_points_have_a_sharpe_an_annual_return_and_a_calmar_ratio() -> None:
    # from 100: +10 % then -10 %: mean 0 -> Sharpe 0 and Sortino 0 (not None); the annual return
    # is final over initial capital across the points' span: 99 / 100 over one year = -1 %;
    # max drawdown 110 -> 99 = 10 %; Calmar -1 / 10
    points = [EquityPoint(YEAR_MS, 110.0), EquityPoint(2 * YEAR_MS, 99.0)]
    stats = compute_stats([], points, initial_capital=100)
    assert (stats.sharpe_ratio, stats.sortino_ratio) == (pytest.approx(0.0), pytest.approx(0.0))
    assert stats.annual_return_pct == pytest.approx(-1.0)
    assert stats.max_drawdown_pct == pytest.approx(10.0)
    assert stats.calmar_ratio == pytest.approx(-0.1)
    # returns 0 and +21 %: mean 0.105, sample stdev 0.21 / sqrt(2) -> Sharpe sqrt(2) / 2 x sqrt(1)
    rising = [EquityPoint(YEAR_MS, 100.0), EquityPoint(2 * YEAR_MS, 121.0)]
    up = compute_stats([], rising, initial_capital=100)
    assert up.sharpe_ratio == pytest.approx(math.sqrt(2) / 2, rel=1e-9)
    assert (up.sortino_ratio, up.calmar_ratio) == (None, None)  # nothing below zero, no drawdown
    assert up.annual_return_pct == pytest.approx(21.0)


def test_the_calmar_ratio_divides_by_a_drawdown_below_one_percent() -> None:
    # 100 -> 99.5 (0.5 % drawdown) -> 121 after two years: 10 % a year / 0.5 = 20
    points = [EquityPoint(i * YEAR_MS, e) for i, e in enumerate([100.0, 99.5, 121.0])]
    stats = compute_stats([], points, initial_capital=100)
    assert stats.max_drawdown_pct == pytest.approx(0.5)
    assert stats.calmar_ratio == pytest.approx(20.0)


def test_a_small_account_below_one_unit_gets_every_ratio() -> None:
    # the first test's curve divided by 200: returns, ratios and drawdown are the same
    stats = compute_stats([], curve(0.55, 0.495, 0.5445), initial_capital=0.5)
    assert stats.sharpe_ratio == pytest.approx(math.sqrt(730), rel=1e-9)
    assert stats.sortino_ratio == pytest.approx(math.sqrt(2920), rel=1e-9)
    assert stats.max_drawdown_pct == pytest.approx(10.0)
    # 0.5 -> 0.45 -> 0.605 over two years: 10 % a year, 10 % drawdown
    points = [EquityPoint(i * YEAR_MS, e) for i, e in enumerate([0.5, 0.45, 0.605])]
    yearly = compute_stats([], points, initial_capital=0.5)
    assert yearly.annual_return_pct == pytest.approx(10.0)
    assert yearly.calmar_ratio == pytest.approx(1.0)


def test_points_one_millisecond_apart_annualize_by_milliseconds_per_year() -> None:
    # returns +10 %, -10 %, 100/99 - 1; per-point Sharpe x sqrt(365 x 86400 x 1000); ending where
    # it started keeps the annual return finite (0 %)
    stats = compute_stats([], curve(110, 99, 100, step_ms=1), initial_capital=100)
    returns = [0.1, -0.1, 100 / 99 - 1]
    mean = sum(returns) / 3
    stdev = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)
    expected = mean / stdev * math.sqrt(365 * 86_400_000)
    assert stats.sharpe_ratio == pytest.approx(expected, rel=1e-9)
    assert stats.annual_return_pct == pytest.approx(0.0)


def test_the_annual_return_spans_first_to_last_point_even_with_repeated_times() -> None:
    # one year from 100 to 110, whichever point repeats a time: +10 % a year
    repeat_first = [EquityPoint(0, 100.0), EquityPoint(0, 105.0), EquityPoint(YEAR_MS, 110.0)]
    repeat_last = [EquityPoint(0, 100.0), EquityPoint(YEAR_MS, 105.0), EquityPoint(YEAR_MS, 110.0)]
    for points in (repeat_first, repeat_last):
        assert compute_stats([], points, initial_capital=100).annual_return_pct == pytest.approx(
            10.0
        )


def test_turnover_is_every_entry_and_exit_notional_over_the_initial_capital() -> None:
    # a closed round trip is its exit fill: 1 x 110; an open entry is 1 x 100 -> 210 / 1000
    # (an entry with no known price adds nothing)
    unpriced = opened().model_copy(update={"entry_price": None})
    trades = [round_trip(10), opened(), unpriced]
    assert compute_stats(trades, curve(1000), initial_capital=1000).turnover == pytest.approx(0.21)
    assert compute_stats(trades, curve(0.5), initial_capital=0.5).turnover == pytest.approx(420.0)
    assert compute_stats(trades, curve(0, 5), initial_capital=0).turnover is None


def test_without_initial_capital_the_first_point_is_the_start_and_an_empty_run_is_all_zero() -> (
    None
):
    stats = compute_stats([], curve(100, 50))
    assert (stats.initial_equity, stats.total_return_pct) == (100, pytest.approx(-50.0))
    empty = compute_stats([], [])
    assert (empty.initial_equity, empty.final_equity, empty.total_return_pct) == (0.0, 0.0, 0.0)
    assert (empty.fees_paid, empty.exposure_pct) == (0.0, 0.0)
    assert (empty.max_drawdown_pct, empty.max_drawdown_duration_ms) == (0.0, 0)


def test_an_account_that_starts_at_zero_has_no_ratios_and_no_drawdown_without_a_peak() -> None:
    # no return is measured from zero capital, however many points follow; a curve at or below
    # zero has no positive peak to fall from (and numpy warnings are errors in this suite)
    grown = compute_stats([], curve(10, 20, 30, 40), initial_capital=0)
    assert (grown.sharpe_ratio, grown.sortino_ratio) == (None, None)
    negative = compute_stats([], curve(0, -5, 0), initial_capital=0)
    assert (negative.max_drawdown_pct, negative.sharpe_ratio) == (0.0, None)


def test_a_curve_through_zero_is_measured_without_dividing_by_zero() -> None:
    # from 100: 50 (-50 %), 0 (-100 %), 10 (from zero: left out), 0, 0 (0 / 0: left out)
    stats = compute_stats([], curve(50, 0, 10, 0, 0), initial_capital=100)
    assert stats.max_drawdown_pct == pytest.approx(100.0)
    returns = [-0.5, -1.0, -1.0]
    mean = sum(returns) / 3
    stdev = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)
    assert stats.sharpe_ratio == pytest.approx(mean / stdev * math.sqrt(8760), rel=1e-9)
