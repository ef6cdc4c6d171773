"""compute_stats: one pure function from round trips and an equity curve to the summary figures."""

from __future__ import annotations

import math
import statistics

import pytest

from tests.backtest.helpers import HOUR, curve, opened, round_trip
from tradeloop.backtest.stats import EquityPoint, compute_stats
from tradeloop.trading.constants import SECONDS_PER_YEAR


def test_return_and_drawdown_come_from_the_equity_curve() -> None:
    stats = compute_stats([], curve(100, 120, 90, 110, 130), initial_capital=100)
    assert stats.final_equity == 130
    assert stats.total_return_pct == pytest.approx(30.0)
    assert stats.max_drawdown_pct == pytest.approx(25.0)  # 120 -> 90
    assert stats.max_drawdown_duration_ms == 2 * HOUR  # below the 120 peak from hour 1 to 3


def test_a_loss_before_any_gain_counts_from_the_initial_capital() -> None:
    stats = compute_stats([], curve(80, 90), initial_capital=100)
    assert stats.max_drawdown_pct == pytest.approx(20.0)


def test_sharpe_and_sortino_are_annualized_per_point_returns() -> None:
    equity = [100, 101, 99.5, 102, 101, 103.5]
    stats = compute_stats([], curve(*equity), initial_capital=100)
    levels = [100, *equity]
    returns = [b / a - 1 for a, b in zip(levels, levels[1:], strict=False)]
    periods = SECONDS_PER_YEAR / 3600
    expected_sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(periods)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    assert stats.sharpe_ratio == pytest.approx(expected_sharpe)
    assert stats.sortino_ratio == pytest.approx(
        statistics.mean(returns) / downside * math.sqrt(periods)
    )


def test_a_flat_curve_has_no_sharpe_rather_than_a_division_by_zero() -> None:
    stats = compute_stats([], curve(100, 100, 100), initial_capital=100)
    assert stats.sharpe_ratio is None and stats.sortino_ratio is None
    assert stats.max_drawdown_pct == 0.0


def test_trade_figures_count_round_trips_net_of_fees() -> None:
    trades = [round_trip(10, fee=1), round_trip(-4, fee=1), round_trip(0.5, fee=1), opened()]
    stats = compute_stats(trades, curve(100, 105))
    assert stats.trades == 3  # the open entry is not a trade yet
    assert stats.win_rate_pct == pytest.approx(100 / 3)  # 0.5 gross is a loss after its fee
    assert stats.profit_factor == pytest.approx(9 / (5 + 0.5))
    assert stats.best_trade_pct == pytest.approx(9.0)
    assert stats.worst_trade_pct == pytest.approx(-5.0)


def test_profit_factor_is_none_when_nothing_was_lost() -> None:
    stats = compute_stats([round_trip(5)], curve(100, 105))
    assert stats.profit_factor is None
    assert stats.win_rate_pct == 100.0


def test_exposure_and_fees_come_from_the_curve_points() -> None:
    points = [
        EquityPoint(ts=0, equity=100, gross_exposure=0, fees_paid=0),
        EquityPoint(ts=HOUR, equity=100, gross_exposure=99, fees_paid=0.1),
        EquityPoint(ts=2 * HOUR, equity=101, gross_exposure=0, fees_paid=0.2),
        EquityPoint(ts=3 * HOUR, equity=101, gross_exposure=0, fees_paid=0.2),
    ]
    stats = compute_stats([], points)
    assert stats.exposure_pct == 25.0
    assert stats.fees_paid == 0.2


def test_an_empty_run_has_neutral_figures() -> None:
    stats = compute_stats([], [], initial_capital=1000)
    assert (stats.points, stats.trades, stats.final_equity) == (0, 0, 1000)
    assert stats.total_return_pct == 0.0 and stats.start_ts is None


def test_compute_stats_does_not_modify_its_inputs() -> None:
    points, trades = curve(100, 90, 95), [round_trip(3)]
    before = (list(points), list(trades))
    compute_stats(trades, points)
    assert (points, trades) == before
