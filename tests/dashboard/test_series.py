"""The dashboard's chart series: drawdown, buy-and-hold, the prices a cycle saw, thinning."""

from __future__ import annotations

import json

import pytest

from tradeloop.dashboard import series


def _features(*vectors: tuple[str, str | None, dict[str, float]]) -> str:
    """Stored features JSON: (symbol, candle interval or None for the market snapshot, values)."""
    return json.dumps(
        [
            {
                "ts": 0,
                "instrument": {"symbol": symbol, "exchange_id": "binance"},
                "values": values,
                "meta": {"interval": interval, "group_by_key": f"candles_{interval}"}
                if interval
                else {"group_by_key": "market_snapshot"},
            }
            for symbol, interval, values in vectors
        ]
    )


def test_drawdown_is_the_percent_below_the_running_peak() -> None:
    assert series.drawdown_pct([100.0, 110.0, 99.0, 121.0, 108.9]) == pytest.approx(
        [0.0, 0.0, 10.0, 0.0, 10.0]
    )


def test_a_cycle_price_is_the_snapshot_price_when_there_is_one() -> None:
    features = _features(
        ("BTC-USDT", "4h", {"close": 90.0}),
        ("BTC-USDT", None, {"price": 101.5}),
        ("BTC-USDT", "1h", {"close": 100.0}),
    )
    assert series.cycle_prices(features) == {"BTC-USDT": 101.5}


def test_without_a_snapshot_the_finest_candle_close_is_the_price() -> None:
    features = _features(
        ("ETH-USDT", "4h", {"close": 9.0}),
        ("ETH-USDT", "15m", {"close": 10.5}),
        ("ETH-USDT", "1h", {"close": 10.0}),
    )
    assert series.cycle_prices(features) == {"ETH-USDT": 10.5}


def test_a_failed_cycle_without_features_has_no_prices() -> None:
    assert series.cycle_prices("[]") == {}


def test_buy_and_hold_splits_the_capital_equally_at_the_first_prices() -> None:
    prices = {
        "BTC-USDT": [(1, 100.0), (2, 150.0), (3, 200.0)],
        "ETH-USDT": [(1, 10.0), (2, 10.0), (3, 5.0)],
    }
    # 500 in each: BTC x1.5 then x2, ETH x1 then x0.5
    assert series.buy_and_hold([1, 2, 3], prices, 1000.0, fee_bps=0, slippage_bps=0) == [
        (1, 1000.0),
        (2, 1250.0),
        (3, 1250.0),
    ]


def test_buy_and_hold_starts_once_every_symbol_has_a_price() -> None:
    prices = {"BTC-USDT": [(1, 100.0), (2, 110.0)], "ETH-USDT": [(2, 20.0)]}
    assert series.buy_and_hold([1, 2], prices, 200.0, fee_bps=0, slippage_bps=0) == [(2, 200.0)]


def test_buy_and_hold_pays_the_fee_and_slippage_in_and_out_as_the_backtest_baseline() -> None:
    prices = {"BTC-USDT": [(1, 100.0), (2, 150.0), (3, 200.0)]}
    # 10 bps fee, 20 bps slippage: bought at 100.2 paying 0.1 %, sold at 199.6 paying 0.1 %
    qty = 1000 / (100 * 1.002 * 1.001)
    held = series.buy_and_hold([1, 2, 3], prices, 1000.0, fee_bps=10, slippage_bps=20)
    assert [t for t, _ in held] == [1, 2, 3]
    assert [v for _, v in held] == pytest.approx([qty * 100, qty * 150, qty * 200 * 0.998 * 0.999])


def test_thinning_keeps_the_limit_and_the_last_point() -> None:
    points = list(range(10_001))
    thinned = series.thin(points, 100)
    assert len(thinned) == 100
    assert thinned[0] == 0 and thinned[-1] == 10_000
    assert thinned == sorted(thinned)
    assert series.thin([1, 2, 3], 100) == [1, 2, 3]
