"""Corrupt candle files: every bad row is refused with its file and line, or skipped and counted
when the user asks for lenient loading; a replay never serves one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data import ReplayMarketDataSource
from tradeloop.trading.errors import ConfigError

HOUR_MS = 3_600_000
ROWS = 12
BAD_LINE = 6
"""Line 1 is the header, so line 6 holds the fifth candle."""


def good_row(i: int) -> str:
    return f"{i * HOUR_MS},{100 + i},{101 + i},{99 + i},{100.5 + i},{1 + i}"


def write_with(path: Path, bad: str, line: int = BAD_LINE) -> Path:
    """ROWS good candles, with the row on ``line`` replaced by ``bad`` (``{ts}`` is its own
    timestamp, ``{prev}`` the previous row's)."""
    rows = [good_row(i) for i in range(ROWS)]
    i = line - 2
    rows[i] = bad.format(ts=i * HOUR_MS, prev=(i - 1) * HOUR_MS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def source_of(path: str, *, skip_bad_rows: bool = False) -> ReplayMarketDataSource:
    return ReplayMarketDataSource(
        {("BTC-USDT", "1h"): path}, SimulatedClock(ROWS * HOUR_MS), skip_bad_rows=skip_bad_rows
    )


CASES = {
    "missing field": ("{ts},100,101,99,100.5", "5 fields, expected 6"),
    "empty value": ("{ts},100,101,,100.5,1", "low is empty"),
    "negative close": ("{ts},100,101,99,-5,1", "close -5 is not a positive price"),
    "zero open": ("{ts},0,101,99,100.5,1", "open 0 is not a positive price"),
    "high below low": ("{ts},95,90,99,95,1", "high 90 is below low 99"),
    "open above high": ("{ts},105,101,99,100.5,1", "open 105 is outside [low 99, high 101]"),
    "close below low": ("{ts},100,101,99,98,1", "close 98 is outside [low 99, high 101]"),
    "negative volume": ("{ts},100,101,99,100.5,-3", "volume -3 is negative"),
    "not a number": ("{ts},100,abc,99,100.5,1", "high 'abc' is not a number"),
    "not finite": ("{ts},100,inf,99,100.5,1", "high 'inf' is not a finite number"),
    "duplicate timestamp": ("{prev},100,101,99,100.5,1", "duplicate timestamp"),
    "timestamp going back": ("0,100,101,99,100.5,1", "is before the previous row's"),
    "fractional timestamp": ("{ts}.5,100,101,99,100.5,1", "not a whole"),
}


@pytest.mark.parametrize("bad,reason", CASES.values(), ids=CASES.keys())
def test_a_bad_row_is_refused_with_the_path_as_given_its_line_and_the_reason(
    tmp_path, monkeypatch, bad: str, reason: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_with(tmp_path / "data" / "btc.csv", bad)
    source = source_of("data/btc.csv")
    with pytest.raises(ConfigError) as caught:
        source.load(["BTC-USDT"])
    message = str(caught.value)
    assert message.startswith(f"data/btc.csv line {BAD_LINE}: ") and reason in message
    assert "--skip-bad-rows" in message


@pytest.mark.parametrize("bad,reason", CASES.values(), ids=CASES.keys())
def test_lenient_loading_leaves_the_bad_row_out_and_counts_it_in_a_warning(
    tmp_path, caplog, bad: str, reason: str
) -> None:
    path = write_with(tmp_path / "btc.csv", bad)
    source = source_of(str(path), skip_bad_rows=True)
    with caplog.at_level(logging.WARNING, logger="tradeloop"):
        series = source.series("BTC-USDT", "1h")
    expected = [100.5 + i for i in range(ROWS) if i != BAD_LINE - 2]
    assert series["close"].tolist() == expected
    assert (series[["open", "high", "low", "close"]] > 0).all().all()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"skipped 1 bad rows (first at line {BAD_LINE}: " in warning and reason in warning


def test_the_error_counts_the_bad_rows_after_the_first(tmp_path) -> None:
    path = write_with(tmp_path / "btc.csv", "{ts},100,101,99,-5,1")
    text = path.read_text().replace(good_row(9), f"{9 * HOUR_MS},,,,,")
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"line {BAD_LINE}: close -5 .*\(1 more bad rows"):
        source_of(str(path)).load(["BTC-USDT"])


def test_a_clean_file_loads_every_row_on_either_setting(tmp_path) -> None:
    path = tmp_path / "btc.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "\n".join(good_row(i) for i in range(ROWS))
        + "\n"
    )
    for lenient in (False, True):
        series = source_of(str(path), skip_bad_rows=lenient).series("BTC-USDT", "1h")
        assert series["ts"].tolist() == [i * HOUR_MS for i in range(ROWS)]


def test_a_bad_row_in_a_finer_file_is_refused_before_any_snapshot(tmp_path) -> None:
    """The snapshot's price comes from the finest file: it is checked up front too."""
    fine = write_with(tmp_path / "binance_spot_BTCUSDT_5m.csv", "{ts},100,101,99,-5,1")
    write_with(tmp_path / "binance_spot_BTCUSDT_1h.csv", good_row(4))
    source = ReplayMarketDataSource.from_dir(tmp_path, SimulatedClock(0))
    with pytest.raises(ConfigError, match=rf"{fine} line {BAD_LINE}: close -5"):
        source.load(["BTC-USDT"])
