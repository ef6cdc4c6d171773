"""Indicators on real candles, and the default pipeline on replayed and windowed data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pandas_ta as ta
import pytest

import tradeloop.trading.features.keys as keys_module
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data import BaseMarketDataSource, ReplayMarketDataSource
from tradeloop.trading.features import FEATURE_KEYS, DefaultFeaturesPipeline
from tradeloop.trading.features.candle import SimpleCandleFeatureComputer
from tradeloop.trading.features.indicators import (
    indicator_frame,
    latest_values,
    synthetic_candles,
)
from tradeloop.trading.features.keys import SNAPSHOT_KEYS
from tradeloop.trading.features.warmup import is_warm, warm_up
from tradeloop.trading.models import UserRequest

HOUR_MS = 3_600_000


def candles(shared_data: Path, name: str = "binance_spot_BTCUSDT_1h.csv") -> pd.DataFrame:
    return pd.read_csv(shared_data / name).rename(columns={"timestamp": "ts"})


def frame_of_closes(closes: list[float]) -> pd.DataFrame:
    close = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0}
    )


def request(symbols: list[str], intervals: list[str], lookback: int = 200) -> UserRequest:
    return UserRequest.model_validate(
        {
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": symbols,
                "feature_intervals": intervals,
                "candle_lookback": lookback,
            }
        }
    )


# --------------------------------------------------------------------------- keys and indicators


def test_every_feature_key_is_documented_in_the_keys_module_docstring() -> None:
    doc = keys_module.__doc__ or ""
    for key in [*FEATURE_KEYS, *SNAPSHOT_KEYS]:
        assert f"\n    {key} " in doc or f" {key}" in doc, key


def test_the_indicator_frame_has_one_column_per_feature_key_and_one_row_per_candle() -> None:
    df = synthetic_candles(300)
    frame = indicator_frame(df)
    assert list(frame.columns) == list(FEATURE_KEYS)
    assert frame.index.equals(df.index)
    assert frame.iloc[-1].notna().all()


def test_rsi_is_100_when_prices_only_rose() -> None:
    frame = indicator_frame(frame_of_closes([100 + i * 0.5 for i in range(60)]))
    assert (frame["rsi"].iloc[14:] == 100.0).all()
    assert frame["rsi"].iloc[:14].isna().all()


def test_rsi_is_0_when_prices_only_fell_and_neutral_when_flat() -> None:
    falling = indicator_frame(frame_of_closes([200 - i for i in range(40)]))
    flat = indicator_frame(frame_of_closes([100.0] * 40))
    assert (falling["rsi"].iloc[14:] == 0.0).all()
    assert (flat["rsi"].iloc[14:] == 50.0).all()


def test_rsi_follows_wilders_recursive_definition_once_its_seed_has_decayed(shared_data) -> None:
    close = candles(shared_data)["close"].to_numpy()[:3000]
    change = np.diff(close)
    gain, loss = np.clip(change, 0, None), np.clip(-change, 0, None)
    avg_gain, avg_loss = gain[:14].mean(), loss[:14].mean()  # Wilder: SMA seed, then 1/14 smoothing
    wilder = []
    for g, lo in zip(gain[14:], loss[14:], strict=True):
        avg_gain, avg_loss = (avg_gain * 13 + g) / 14, (avg_loss * 13 + lo) / 14
        wilder.append(100 - 100 / (1 + avg_gain / avg_loss))
    ours = indicator_frame(candles(shared_data).iloc[:3000])["rsi"].to_numpy()[15:]
    np.testing.assert_allclose(ours[600:], np.asarray(wilder)[600:], rtol=0, atol=1e-9)


def test_bollinger_bands_are_sma_20_plus_minus_two_population_deviations(shared_data) -> None:
    df = candles(shared_data).iloc[:2000]
    frame = indicator_frame(df)
    mean = df["close"].rolling(20).mean()
    std = df["close"].rolling(20).std(ddof=0)
    assert frame["bb_middle"][:20].isna().all()
    np.testing.assert_allclose(frame["bb_middle"][20:], mean[20:], rtol=1e-12)
    np.testing.assert_allclose(frame["bb_upper"][20:], (mean + 2 * std)[20:], rtol=1e-9)
    np.testing.assert_allclose(frame["bb_lower"][20:], (mean - 2 * std)[20:], rtol=1e-9)


def test_macd_and_emas_are_pandas_tas(shared_data) -> None:
    df = candles(shared_data).iloc[:2000]
    frame = indicator_frame(df)
    macd = ta.macd(df["close"], fast=12, slow=26, signal=9)
    assert np.array_equal(frame["macd"][33:], macd["MACD_12_26_9"][33:])
    assert np.array_equal(frame["macd_signal"][33:], macd["MACDs_12_26_9"][33:])
    assert np.array_equal(frame["macd_hist"][33:], macd["MACDh_12_26_9"][33:])
    assert np.array_equal(frame["ema_50"][49:], ta.ema(df["close"], length=50)[49:])


def test_atr_is_pandas_tas_on_candles_that_are_never_flat(shared_data) -> None:
    df = candles(shared_data)
    assert (df["high"] > df["low"]).all()
    expected = ta.atr(df["high"], df["low"], df["close"], length=14)
    assert np.array_equal(indicator_frame(df)["atr"][14:], expected[14:])


def test_a_flat_candle_later_on_does_not_change_earlier_atr_values(shared_data) -> None:
    """pandas-ta's own true range would: it adds an epsilon everywhere once any range is zero."""
    df = candles(shared_data).iloc[:500].copy()
    df[["open", "high", "low", "close"]] *= 1e-7  # a micro-cap price, where an epsilon shows
    before = indicator_frame(df)["atr"].to_numpy()[:400]
    df.loc[450, ["open", "high", "low", "close"]] = df.loc[449, "close"]
    after = indicator_frame(df)["atr"].to_numpy()[:400]
    assert np.array_equal(after, before, equal_nan=True)


def test_price_features_are_last_change_24_candle_change_and_relative_volume() -> None:
    df = synthetic_candles(100)
    values = latest_values(indicator_frame(df))
    close, volume = df["close"].to_numpy(), df["volume"].to_numpy()
    assert values["close"] == close[-1] and values["volume"] == volume[-1]
    assert values["change_pct"] == pytest.approx((close[-1] / close[-2] - 1) * 100, rel=1e-12)
    assert values["change_pct_24"] == pytest.approx((close[-1] / close[-25] - 1) * 100, rel=1e-12)
    assert values["volume_ratio"] == pytest.approx(volume[-1] / volume[-20:].mean(), rel=1e-12)


def test_too_little_history_gives_fewer_keys_and_never_nan() -> None:
    values = latest_values(indicator_frame(synthetic_candles(30)))
    assert {"close", "change_pct", "change_pct_24", "rsi", "ema_20", "atr"} <= set(values)
    assert not {"macd", "macd_signal", "ema_50"} & set(values)
    assert all(math.isfinite(v) for v in values.values())
    assert latest_values(indicator_frame(synthetic_candles(1))) == pytest.approx(
        {
            "close": synthetic_candles(1)["close"].iloc[0],
            "volume": synthetic_candles(1)["volume"].iloc[0],
        }
    )


@pytest.mark.parametrize("name", ["binance_spot_BTCUSDT_1h.csv", "bybit_linear_SOLUSDT_5m.csv"])
def test_each_row_of_the_full_frame_equals_computing_on_the_candles_up_to_it(
    shared_data, name
) -> None:
    """Exact float equality: every indicator is causal and computed left to right."""
    df = candles(shared_data, name)
    full = indicator_frame(df).to_numpy()
    cuts = [*range(1, 80), *range(80, len(df), 397), len(df)]
    for k in cuts:
        prefix = indicator_frame(df.iloc[:k].copy()).to_numpy()[-1]
        assert np.array_equal(prefix, full[k - 1], equal_nan=True), f"row {k - 1} differs"


def test_warm_up_is_idempotent_and_free_once_done() -> None:
    warm_up()
    assert is_warm()
    assert warm_up() == 0.0


# --------------------------------------------------------------------------- the pipeline


def replay(shared_data: Path, hours_in: int = 600) -> tuple[ReplayMarketDataSource, SimulatedClock]:
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource.from_dir(shared_data, clock, venue="binance_spot")
    clock.set(source.first_ts() + hours_in * HOUR_MS + 123)
    return source, clock


async def test_the_pipeline_yields_a_vector_per_symbol_and_interval_then_snapshots(
    shared_data,
) -> None:
    source, clock = replay(shared_data)
    pipeline = DefaultFeaturesPipeline(request(["BTC-USDT", "ETH-USDT"], ["1h", "4h"]), source)
    features = (await pipeline.build()).features
    groups = [(f.instrument.symbol, (f.meta or {})["group_by_key"]) for f in features]
    assert groups == [
        ("BTC-USDT", "candles_1h"),
        ("BTC-USDT", "candles_4h"),
        ("ETH-USDT", "candles_1h"),
        ("ETH-USDT", "candles_4h"),
        ("BTC-USDT", "market_snapshot"),
        ("ETH-USDT", "market_snapshot"),
    ]
    btc_1h, btc_4h = features[0], features[1]
    assert btc_1h.ts == clock.now_ms() - 123 and btc_1h.ts % HOUR_MS == 0
    assert btc_4h.ts <= clock.now_ms() and btc_4h.ts % (4 * HOUR_MS) == 0
    assert btc_1h.meta and btc_1h.meta["interval"] == "1h"
    assert set(btc_1h.values) == set(FEATURE_KEYS)
    recent = btc_1h.meta["recent"]
    assert len(recent["close"]) == len(recent["rsi"]) == 8
    assert recent["close"][-1] == btc_1h.values["close"] == features[4].values["price"]
    assert set(features[4].values) == {"price", "high", "low"}


async def test_replayed_features_equal_computing_on_the_visible_candles_only(shared_data) -> None:
    source, clock = replay(shared_data, hours_in=60)
    pipeline = DefaultFeaturesPipeline(request(["SOL-USDT"], ["1h", "4h"]), source)
    for _ in range(12):
        clock.advance(7 * 3600 + 1)
        by_interval = {(f.meta or {}).get("interval"): f for f in (await pipeline.build()).features}
        for interval in ("1h", "4h"):
            visible = source.series("SOL-USDT", interval).iloc[
                : source.visible_count("SOL-USDT", interval)
            ]
            frame = indicator_frame(visible)
            assert by_interval[interval].values == latest_values(frame)
            rsi = [None if math.isnan(v) else v for v in frame["rsi"].iloc[-8:]]
            assert by_interval[interval].meta["recent"]["rsi"] == rsi


async def test_a_cycle_before_enough_history_has_fewer_keys_and_no_nan(shared_data) -> None:
    source, clock = replay(shared_data, hours_in=20)
    features = (
        await DefaultFeaturesPipeline(request(["BTC-USDT"], ["1h"]), source).build()
    ).features
    values = features[0].values
    assert "rsi" in values and "ema_50" not in values and "macd" not in values
    assert all(math.isfinite(v) for f in features for v in f.values.values())
    assert None in features[0].meta["recent"]["rsi"]


async def test_a_cycle_before_the_first_candle_closed_yields_nothing(shared_data) -> None:
    source, clock = replay(shared_data)
    clock.set(source.first_ts())
    result = await DefaultFeaturesPipeline(request(["BTC-USDT"], ["1h"]), source).build()
    assert result.features == []


class WindowedSource(BaseMarketDataSource):
    """A live-like source: serves lookback windows from a replay, without the fast path."""

    def __init__(self, replay_source: ReplayMarketDataSource) -> None:
        self.replay = replay_source
        self.requests: list[tuple[list[str], str, int]] = []

    async def get_recent_candles(self, symbols, interval, lookback):
        self.requests.append((list(symbols), interval, lookback))
        return await self.replay.get_recent_candles(symbols, interval, lookback)

    async def get_market_snapshot(self, symbols):
        return await self.replay.get_market_snapshot(symbols)


async def test_a_live_source_is_asked_for_the_lookback_and_computed_on_that_window(
    shared_data,
) -> None:
    source, clock = replay(shared_data)
    live = WindowedSource(source)
    pipeline = DefaultFeaturesPipeline(
        request(["BTC-USDT", "BNB-USDT"], ["1h", "4h"], 150), live, clock
    )
    features = (await pipeline.build()).features
    assert sorted(live.requests) == [
        (["BTC-USDT", "BNB-USDT"], "1h", 150),
        (["BTC-USDT", "BNB-USDT"], "4h", 150),
    ]
    window = await source.get_recent_candles(["BNB-USDT"], "4h", 150)
    expected = SimpleCandleFeatureComputer("binance").compute_features(window)[0]
    got = next(
        f for f in features if f.instrument.symbol == "BNB-USDT" and f.meta["interval"] == "4h"
    )
    assert got == expected
    assert [f.meta["group_by_key"] for f in features][-2:] == ["market_snapshot"] * 2


async def test_ten_symbols_by_two_intervals_come_out_of_one_build(shared_data) -> None:
    files = sorted(shared_data.glob("binance_spot_*_1h.csv"))
    symbols = [f"S{i}-USDT" for i in range(10)]
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource(
        {(s, "1h"): files[i % len(files)] for i, s in enumerate(symbols)}, clock
    )
    clock.set(source.start_ms(300, intervals=["1h", "4h"]))
    pipeline = DefaultFeaturesPipeline(request(symbols, ["1h", "4h"]), source)
    for _ in range(3):
        result = await pipeline.build()
        clock.advance(3600)
    assert len(result.features) == 10 * 2 + 10
