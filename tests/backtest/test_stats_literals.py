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
