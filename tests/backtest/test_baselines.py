"""Buy-and-hold and the default rules strategy beside every backtest, on the same window and fees.
Buy-and-hold's figures are checked by hand from the CSV closes: (last / first close) less the fees
on the way in and out."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tradeloop.backtest.baselines import hold_curve
from tradeloop.backtest.runner import BacktestSpec, default_rules_request, run_backtest
from tradeloop.backtest.times import parse_time_ms
from tradeloop.trading.models import RuleComposerConfig, UserRequest

HOUR = 3_600_000


def test_hold_curve_buys_equal_weights_and_sells_at_the_end_less_fees_and_slippage() -> None:
    prices = {"A-USDT": [100.0, 110.0, 120.0], "B-USDT": [50.0, 40.0, 60.0]}
    result = hold_curve([0, HOUR, 2 * HOUR], prices, capital=1000, fee_bps=10, slippage_bps=5)

    f, s = 0.001, 0.0005
    qty_a = 500 / (100 * (1 + s) * (1 + f))
    qty_b = 500 / (50 * (1 + s) * (1 + f))
    final = qty_a * 120 * (1 - s) * (1 - f) + qty_b * 60 * (1 - s) * (1 - f)
    assert [p.equity for p in result.curve] == pytest.approx(
        [qty_a * 100 + qty_b * 50, qty_a * 110 + qty_b * 40, final]
    )
    entry_fees = (qty_a * 100 + qty_b * 50) * (1 + s) * f
    exit_fees = (qty_a * 120 + qty_b * 60) * (1 - s) * f
    assert result.curve[0].fees_paid == pytest.approx(entry_fees)
    assert result.curve[-1].fees_paid == pytest.approx(entry_fees + exit_fees)
    assert final == pytest.approx(1000 * 1.2 * (1 - s) * (1 - f) / ((1 + s) * (1 + f)))
    exits = [t for t in result.trades if t.exit_price is not None]
    assert [t.realized_pnl - t.round_trip_fees for t in exits] == pytest.approx(
        [qty_a * 120 * (1 - s) * (1 - f) - 500, qty_b * 60 * (1 - s) * (1 - f) - 500]
    )


def _close_at(path: Path, ts: int) -> float:
    """Close of the last 1h candle closed at ``ts`` (open time + 1h <= ts), read by hand."""
    with path.open() as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["timestamp"]) + HOUR <= ts]
    return float(rows[-1]["close"])


def two_coin_request(**trading) -> UserRequest:
    return UserRequest.model_validate(
        {
            "exchange_config": {"fee_bps": 10, "max_slippage_bps": 0},
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "decide_interval": 3600,
                "feature_intervals": ["1h"],
                "rules": {"rsi_buy_below": 35, "rsi_sell_above": 65, "position_size_pct": 0.5},
            }
            | trading,
        }
    )


async def test_every_backtest_reports_buy_and_hold_with_hand_checked_numbers(shared_data) -> None:
    spec = BacktestSpec(
        request=two_coin_request(),
        data=[
            str(shared_data / "binance_spot_BTCUSDT_1h.csv"),
            str(shared_data / "binance_spot_ETHUSDT_1h.csv"),
        ],
        start_ms=parse_time_ms("2025-01-01"),
        end_ms=parse_time_ms("2025-02-01"),
    )
    run = await run_backtest(spec)

    hold, rules = run.summary().baselines
    assert (hold.name, rules.name) == ("buy_and_hold", "default_rules")
    first, last = run.equity_curve[0].ts, run.equity_curve[-1].ts
    assert (first, last) == (parse_time_ms("2025-01-01"), parse_time_ms("2025-02-01"))
    f = 0.001
    growth = [
        _close_at(shared_data / f"binance_spot_{s}USDT_1h.csv", last)
        / _close_at(shared_data / f"binance_spot_{s}USDT_1h.csv", first)
        for s in ("BTC", "ETH")
    ]
    expected_return = (sum(5_000 * g * (1 - f) / (1 + f) for g in growth) / 10_000 - 1) * 100
    assert hold.stats.total_return_pct == pytest.approx(expected_return, rel=1e-9)
    expected_fees = sum(5_000 / (1 + f) * f * (1 + g) for g in growth)  # in and out
    assert hold.stats.fees_paid == pytest.approx(expected_fees, rel=1e-9)
    assert hold.stats.trades == 2 and hold.stats.turnover == pytest.approx(
        sum(0.5 / (1 + f) * (1 + g) for g in growth), rel=1e-9
    )
    assert [p.ts for p in run.hold_curve] == [p.ts for p in run.equity_curve]
    assert rules.stats.points == len(run.equity_curve)
    assert run.stats is not None and run.stats.calmar_ratio is not None


def test_the_default_rules_baseline_keeps_the_strategy_but_not_its_decisions() -> None:
    request = two_coin_request(composer="llm", custom_prompt="buy dips")
    rules = default_rules_request(request)
    assert rules.trading_config.composer == "rules"
    assert rules.trading_config.rules == RuleComposerConfig()
    assert rules.trading_config.symbols == request.trading_config.symbols
    assert rules.exchange_config == request.exchange_config
