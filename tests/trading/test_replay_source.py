"""Replaying real candles: nothing is visible before it closed, and coarser intervals are resampled."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data import BaseMarketDataSource, ReplayMarketDataSource
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.features import DefaultFeaturesPipeline
from tradeloop.trading.models import Candle, UserRequest

HOUR_MS = 3_600_000
BTC_1H_FIRST = 1_713_229_200_000  # 2024-04-16 01:00 UTC
BYBIT_5M_FIRST = 1_743_699_900_000  # 2025-04-03 17:05 UTC


def btc_source(shared_data: Path, now_ms: int) -> tuple[ReplayMarketDataSource, SimulatedClock]:
    clock = SimulatedClock(now_ms)
    return ReplayMarketDataSource.from_dir(shared_data, clock, venue="binance_spot"), clock


def raw(shared_data: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(shared_data / name)


def test_from_dir_reads_symbol_and_interval_from_each_file_name(shared_data) -> None:
    source = ReplayMarketDataSource.from_dir(shared_data, SimulatedClock(0))
    assert source.available() == [
        ("BNB-USDT", "1h"),
        ("BTC-USDT", "5m"),
        ("BTC-USDT", "1h"),
        ("ETH-USDT", "5m"),
        ("ETH-USDT", "1h"),
        ("SOL-USDT", "5m"),
        ("SOL-USDT", "1h"),
    ]


def test_a_venue_prefix_selects_that_venues_files_only(shared_data) -> None:
    source = ReplayMarketDataSource.from_dir(shared_data, SimulatedClock(0), venue="bybit_linear")
    assert source.available() == [("BTC-USDT", "5m"), ("ETH-USDT", "5m"), ("SOL-USDT", "5m")]


def test_a_candle_becomes_visible_exactly_when_it_closes(shared_data) -> None:
    source, clock = btc_source(shared_data, BTC_1H_FIRST + HOUR_MS - 1)
    assert source.visible_count("BTC-USDT", "1h") == 0
    assert source.latest_candle("BTC-USDT", "1h") is None
    clock.set(BTC_1H_FIRST + HOUR_MS)
    assert source.visible_count("BTC-USDT", "1h") == 1
    clock.advance(10 * 3600 - 0.001)
    assert source.visible_count("BTC-USDT", "1h") == 10


async def test_recent_candles_are_the_last_closed_ones_oldest_first_per_symbol(shared_data) -> None:
    now = BTC_1H_FIRST + 500 * HOUR_MS + 1234
    source, _ = btc_source(shared_data, now)
    candles = await source.get_recent_candles(["BTC-USDT", "ETH/USDT"], "1h", 200)
    btc = [c for c in candles if c.instrument.symbol == "BTC-USDT"]
    eth = [c for c in candles if c.instrument.symbol == "ETH-USDT"]
    assert len(btc) == len(eth) == 200
    assert candles[:200] == btc
    assert [c.ts for c in btc] == [BTC_1H_FIRST + i * HOUR_MS for i in range(300, 500)]
    row = raw(shared_data, "binance_spot_BTCUSDT_1h.csv").iloc[499]
    assert (btc[-1].open, btc[-1].high, btc[-1].low, btc[-1].close) == (
        row.open,
        row.high,
        row.low,
        row.close,
    )
    assert all(c.ts + HOUR_MS <= now for c in candles)


def test_four_hour_candles_are_resampled_from_hourly_in_complete_epoch_aligned_buckets(
    shared_data,
) -> None:
    source, _ = btc_source(shared_data, 0)
    hourly = raw(shared_data, "binance_spot_BTCUSDT_1h.csv")
    bucket = hourly.timestamp - hourly.timestamp % (4 * HOUR_MS)
    grouped = hourly.groupby(bucket)
    expected = pd.DataFrame(
        {
            "ts": grouped.timestamp.first().index,
            "open": grouped.open.first().to_numpy(),
            "high": grouped.high.max().to_numpy(),
            "low": grouped.low.min().to_numpy(),
            "close": grouped.close.last().to_numpy(),
            "volume": grouped.volume.sum().to_numpy(),
            "count": grouped.size().to_numpy(),
        }
    )
    expected = expected[expected["count"] == 4].drop(columns="count").reset_index(drop=True)
    got = source.series("BTC-USDT", "4h")
    assert got["ts"].iloc[0] == BTC_1H_FIRST + 3 * HOUR_MS  # 01:00-03:00 is not a full bucket
    assert (got["ts"] % (4 * HOUR_MS) == 0).all()
    pd.testing.assert_frame_equal(got[["ts", "open", "high", "low", "close"]], expected.iloc[:, :5])
    np.testing.assert_allclose(got["volume"], expected["volume"], rtol=1e-12)


def test_a_resampled_candle_is_visible_only_once_its_whole_bucket_closed(shared_data) -> None:
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource.from_dir(shared_data, clock, venue="bybit_linear")
    first_full_hour = BYBIT_5M_FIRST - 5 * 60_000 + HOUR_MS  # 17:05 starts a partial 17:00 bucket
    assert source.series("BTC-USDT", "1h")["ts"].iloc[0] == first_full_hour
    clock.set(first_full_hour + HOUR_MS - 1)
    assert source.visible_count("BTC-USDT", "1h") == 0
    clock.set(first_full_hour + HOUR_MS)
    candle = source.latest_candle("BTC-USDT", "1h")
    fine = source.series("BTC-USDT", "5m")
    bucket = fine[(fine.ts >= first_full_hour) & (fine.ts < first_full_hour + HOUR_MS)]
    assert candle is not None and candle.interval == "1h"
    assert (candle.open, candle.close) == (bucket.open.iloc[0], bucket.close.iloc[-1])
    assert (candle.high, candle.low) == (bucket.high.max(), bucket.low.min())


def test_an_interval_that_cannot_be_built_is_a_config_error_listing_the_files(shared_data) -> None:
    source, _ = btc_source(shared_data, 0)
    with pytest.raises(
        ConfigError, match=r"no replay data for BTC-USDT 30m; files exist for .*BTC-USDT 1h"
    ):
        source.visible_count("BTC-USDT", "30m")
    with pytest.raises(
        ConfigError, match=r"no replay data for DOGE-USDT; files exist for BNB-USDT 1h"
    ):
        source.series("DOGE-USDT", "1h")


def test_the_series_cannot_be_changed_through_what_it_returns(shared_data) -> None:
    source, _ = btc_source(shared_data, 0)
    series = source.series("BTC-USDT", "1h")
    original = float(series.loc[0, "close"])
    series.loc[0, "close"] = -1.0
    assert source.series("BTC-USDT", "1h").loc[0, "close"] == original
    assert list(series.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert series.index.equals(pd.RangeIndex(len(series)))


async def test_the_snapshot_is_the_latest_closed_candle_of_the_finest_interval(shared_data) -> None:
    clock = SimulatedClock(BYBIT_5M_FIRST + 37 * 5 * 60_000 + 59_000)
    source = ReplayMarketDataSource.from_dir(shared_data, clock)
    snapshot = await source.get_market_snapshot(["BTC-USDT", "BNB-USDT"])
    fine = raw(shared_data, "bybit_linear_BTCUSDT_5m.csv").iloc[36]
    assert snapshot["BTC-USDT"] == {
        "price": fine.close,
        "high": fine.high,
        "low": fine.low,
        "ts": int(fine.timestamp) + 5 * 60_000,
    }
    bnb = raw(shared_data, "binance_spot_BNBUSDT_1h.csv")
    hourly = bnb[bnb.timestamp + HOUR_MS <= clock.now_ms()].iloc[-1]
    assert snapshot["BNB-USDT"]["price"] == hourly.close


async def test_no_snapshot_entry_before_a_symbols_first_candle_closed(shared_data) -> None:
    source, _ = btc_source(shared_data, BTC_1H_FIRST)
    assert await source.get_market_snapshot(["BTC-USDT"]) == {}


def test_coverage_and_start_time_leave_room_for_the_warm_up(shared_data) -> None:
    source, _ = btc_source(shared_data, 0)
    assert source.first_ts() == BTC_1H_FIRST
    assert source.last_ts() == BTC_1H_FIRST + 17_520 * HOUR_MS
    assert source.start_ms(200) == BTC_1H_FIRST + 200 * HOUR_MS
    four_hourly = source.start_ms(200, intervals=["1h", "4h"])
    assert four_hourly == BTC_1H_FIRST + 3 * HOUR_MS + 200 * 4 * HOUR_MS
    with pytest.raises(ConfigError, match="fewer than the 20000 needed"):
        source.start_ms(20_000)


def test_coverage_of_mixed_files_is_where_all_of_them_have_data(shared_data) -> None:
    source = ReplayMarketDataSource.from_dir(shared_data, SimulatedClock(0))
    assert source.first_ts() == BYBIT_5M_FIRST
    assert source.last_ts() == BYBIT_5M_FIRST + 25_920 * 5 * 60_000


def write_csv(path: Path, rows: int, start_ms: int = 0, header: str | None = None) -> Path:
    lines = [header or "timestamp,open,high,low,close,volume"]
    lines += [
        f"{start_ms + i * HOUR_MS},{100 + i},{101 + i},{99 + i},{100.5 + i},{1 + i}"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_explicit_mapping_names_symbols_and_intervals_whatever_the_file_names(tmp_path) -> None:
    path = write_csv(tmp_path / "prices.csv", 10)
    clock = SimulatedClock(3 * HOUR_MS)
    source = ReplayMarketDataSource({("AAA-USDT", "1h"): path, ("bbb/usdt", "60m"): path}, clock)
    assert source.available() == [("AAA-USDT", "1h"), ("BBB-USDT", "1h")]
    assert source.visible_count("BBB-USDT", "1h") == 3
    assert source.series("AAA-USDT", "1h")["close"].tolist() == [100.5 + i for i in range(10)]


def test_two_venues_with_the_same_symbol_and_interval_must_be_told_apart(tmp_path) -> None:
    write_csv(tmp_path / "binance_spot_BTCUSDT_1h.csv", 5)
    write_csv(tmp_path / "okx_spot_BTCUSDT_1h.csv", 5)
    with pytest.raises(ConfigError, match="pass venue= to pick one"):
        ReplayMarketDataSource.from_dir(tmp_path, SimulatedClock(0))
    chosen = ReplayMarketDataSource.from_dir(tmp_path, SimulatedClock(0), venue="okx_spot")
    assert chosen.available() == [("BTC-USDT", "1h")]


def test_a_file_with_another_header_is_a_config_error_naming_it(tmp_path) -> None:
    write_csv(tmp_path / "BTCUSDT_1h.csv", 5, header="time,o,h,l,c,v")
    source = ReplayMarketDataSource.from_dir(tmp_path, SimulatedClock(0))
    with pytest.raises(ConfigError, match="BTCUSDT_1h.csv line 1: header must be timestamp,open"):
        source.series("BTC-USDT", "1h")


def test_a_folder_without_candle_files_is_a_config_error(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ConfigError, match="no candle files"):
        ReplayMarketDataSource.from_dir(tmp_path, SimulatedClock(0))


class BacktestDataSource(BaseMarketDataSource):
    """The spec's backtesting example, verbatim apart from type hints."""

    def __init__(self, historical_data: list[list[Candle]]) -> None:
        self.data = historical_data
        self.current_index = 0

    async def get_recent_candles(self, symbols, interval, lookback):
        # Return historical candles for current timestamp
        candles = self.data[self.current_index]
        self.current_index += 1
        return candles

    async def get_market_snapshot(self, symbols):
        # Return snapshot from historical data
        return {}


async def test_the_specs_backtest_data_source_drives_the_default_pipeline(shared_data) -> None:
    source, clock = btc_source(shared_data, BTC_1H_FIRST + 300 * HOUR_MS)
    windows = []
    for _ in range(3):
        windows.append(await source.get_recent_candles(["BTC-USDT"], "1h", 200))
        clock.advance(3600)
    request = UserRequest.model_validate(
        {
            "trading_config": {
                "initial_capital": 1000,
                "symbols": ["BTC-USDT"],
                "feature_intervals": ["1h"],
            }
        }
    )
    pipeline = DefaultFeaturesPipeline(request, market_data=BacktestDataSource(windows))
    computed_on = []
    compute = pipeline._candles.compute_features

    def spy(candles):
        computed_on.append(threading.current_thread())
        return compute(candles)

    pipeline._candles.compute_features = spy  # type: ignore[method-assign]
    results = [await pipeline.build() for _ in range(3)]
    stamps = [r.features[0].ts for r in results]
    assert stamps == [BTC_1H_FIRST + h * HOUR_MS for h in (300, 301, 302)]
    assert all(len(r.features) == 1 and "rsi" in r.features[0].values for r in results)
    assert len(computed_on) == 3 and threading.main_thread() not in computed_on  # off the loop


async def test_snapshot_high_and_low_span_every_candle_since_the_previous_snapshot(
    shared_data,
) -> None:
    from tradeloop.trading.clock import SimulatedClock
    from tradeloop.trading.data.replay import ReplayMarketDataSource

    clock = SimulatedClock(0)
    source = ReplayMarketDataSource.from_dir(shared_data, clock, venue="bybit_linear")
    clock.set(source.start_ms(10))
    await source.get_market_snapshot(["BTC-USDT"])
    series = source.series("BTC-USDT", "5m")
    seen = source.visible_count("BTC-USDT", "5m")
    clock.advance(3600)  # twelve 5m candles later
    snap = (await source.get_market_snapshot(["BTC-USDT"]))["BTC-USDT"]
    window = series.iloc[seen : seen + 12]
    assert snap["high"] == window["high"].max()
    assert snap["low"] == window["low"].min()
    assert snap["price"] == window["close"].iloc[-1]
