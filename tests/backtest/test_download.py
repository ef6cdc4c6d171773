"""Candle downloads: paginated, resumable, closed candles only, written atomically."""

from __future__ import annotations

from pathlib import Path

import ccxt
import pytest

from tests.backtest.fake_exchange import HOUR, FakeOhlcvExchange
from tradeloop.backtest.download import HEADER, download_candles
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.errors import ConfigError, MarketDataUnavailable

START = 1_735_689_600_000  # 2025-01-01T00:00Z


def rows(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    return [line.split(",") for line in lines[1:]]


def stamps(path: Path) -> list[int]:
    return [int(r[0]) for r in rows(path)]


async def download(exchange, out: Path, *, until: int | None = None, now: int | None = None, **kw):
    clock = SimulatedClock(now if now is not None else START + 10_000 * HOUR)
    return await download_candles(
        exchange, "BTC/USDT", "1h", out, since_ms=START, until_ms=until, clock=clock, **kw
    )


async def test_a_download_pages_through_the_range_and_writes_the_replay_format(tmp_path) -> None:
    exchange = FakeOhlcvExchange(START, 1200)
    out = tmp_path / "btc.csv"
    result = await download(exchange, out, page_limit=500)
    assert stamps(out) == [START + i * HOUR for i in range(1200)]
    assert [c["since"] for c in exchange.calls[:3]] == [
        START,
        START + 500 * HOUR,
        START + 1000 * HOUR,
    ]
    assert result.new_rows == result.total_rows == 1200 and result.gaps == 0
    first = rows(out)[0]
    assert [float(v) for v in first[1:]] == exchange.rows[0][1:]
    assert not (tmp_path / "btc.csv.part").exists()


async def test_until_is_an_exclusive_bound_on_open_times(tmp_path) -> None:
    out = tmp_path / "btc.csv"
    await download(FakeOhlcvExchange(START, 1200), out, until=START + 48 * HOUR)
    assert stamps(out)[-1] == START + 47 * HOUR and len(stamps(out)) == 48


async def test_the_candle_still_forming_is_never_written(tmp_path) -> None:
    out = tmp_path / "btc.csv"
    now = START + 30 * HOUR + 1_000  # candle 30 opened a second ago
    await download(FakeOhlcvExchange(START, 1200), out, now=now)
    assert stamps(out)[-1] == START + 29 * HOUR


async def test_a_second_run_extends_an_existing_file_from_its_last_timestamp(tmp_path) -> None:
    out = tmp_path / "btc.csv"
    await download(FakeOhlcvExchange(START, 1200), out, until=START + 100 * HOUR)
    exchange = FakeOhlcvExchange(START, 1200)
    result = await download(exchange, out)
    assert exchange.calls[0]["since"] == START + 100 * HOUR
    assert stamps(out) == [START + i * HOUR for i in range(1200)]
    assert result.resumed_from_ts == START + 99 * HOUR and result.new_rows == 1100


async def test_an_interrupted_download_resumes_from_its_partial_file(tmp_path) -> None:
    out = tmp_path / "btc.csv"
    failing = FakeOhlcvExchange(START, 1200)
    original = failing.fetch_ohlcv

    async def crash_on_third_page(*args, **kwargs):
        if len(failing.calls) == 2:
            raise KeyboardInterrupt
        return await original(*args, **kwargs)

    failing.fetch_ohlcv = crash_on_third_page  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        await download(failing, out, page_limit=300)
    part = tmp_path / "btc.csv.part"
    assert not out.exists() and len(stamps(part)) == 600
    with part.open("a") as torn:
        torn.write("1735689600000,1.0,2")  # a row cut off by the crash
    exchange = FakeOhlcvExchange(START, 1200)
    await download(exchange, out, page_limit=300)
    assert exchange.calls[0]["since"] == START + 600 * HOUR
    assert stamps(out) == [START + i * HOUR for i in range(1200)]


async def test_a_temporary_venue_error_is_retried_with_backoff(tmp_path) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    busy = [ccxt.RequestTimeout("slow"), ccxt.ExchangeNotAvailable("maintenance")]
    exchange = FakeOhlcvExchange(START, 10, failures=busy)
    await download(exchange, tmp_path / "btc.csv", sleep=sleep)
    assert waits == [1.0, 2.0]
    assert len(stamps(tmp_path / "btc.csv")) == 10


async def test_retries_give_up_with_a_temporary_error(tmp_path) -> None:
    exchange = FakeOhlcvExchange(START, 10, failures=[ccxt.RequestTimeout("slow")] * 5)

    async def sleep(seconds: float) -> None:
        return None

    with pytest.raises(MarketDataUnavailable):
        await download(exchange, tmp_path / "btc.csv", sleep=sleep, retries=2)


async def test_an_unknown_interval_is_a_config_error_naming_the_offered_ones(tmp_path) -> None:
    with pytest.raises(ConfigError, match="1m, 1h, 1d"):
        await download_candles(
            FakeOhlcvExchange(START, 10), "BTC/USDT", "3h", tmp_path / "x.csv", since_ms=START
        )


async def test_the_rate_limiter_is_switched_on_when_it_was_off(tmp_path) -> None:
    exchange = FakeOhlcvExchange(START, 10)
    exchange.enableRateLimit = False
    await download(exchange, tmp_path / "btc.csv")
    assert exchange.enableRateLimit is True


async def test_missing_venue_candles_are_counted_as_gaps(tmp_path) -> None:
    exchange = FakeOhlcvExchange(START, 50)
    del exchange.rows[10:13]
    result = await download(exchange, tmp_path / "btc.csv")
    assert result.gaps == 1 and result.total_rows == 47
