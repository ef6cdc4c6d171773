"""Historical candles from a ccxt venue into the replay CSV format, paginated and resumable.

Rows go to ``FILE.csv.part`` as each page arrives (flushed, so an interrupted download keeps what it
fetched); the finished file replaces ``FILE.csv`` atomically with ``os.replace``. A later run with the
same ``--out`` resumes from the last complete row of the ``.part`` file, or extends an existing
``FILE.csv`` from its last timestamp. Only closed candles are written (open time + interval <= now),
strictly increasing, ``timestamp,open,high,low,close,volume`` with the open time in ms.

Throttling is ccxt's own (``enableRateLimit``): every request waits for the venue's rate limit.
A page that fails with a temporary error is retried ``retries`` times with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.data.exchanges import translate_ccxt_errors
from tradeloop.trading.errors import ConfigError, TemporaryError
from tradeloop.trading.utils import parse_interval_seconds

logger = logging.getLogger(__name__)

HEADER = "timestamp,open,high,low,close,volume"
DEFAULT_PAGE_LIMIT = 1000
DEFAULT_RETRIES = 3
BACKOFF_S = 1.0

Row = tuple[int, float, float, float, float, float]
DownloadProgress = Callable[[int, int], None]
"""``(candles written so far, candles expected in total)``."""


@dataclass(frozen=True, slots=True)
class DownloadResult:
    path: Path
    new_rows: int
    total_rows: int
    first_ts: int | None
    last_ts: int | None
    resumed_from_ts: int | None
    gaps: int
    """Places where consecutive candles are more than one interval apart (venue outages)."""


@dataclass(frozen=True, slots=True)
class _Window:
    symbol: str
    interval: str
    interval_ms: int
    end_ms: int
    """Exclusive bound on open times: ``until`` or the end of the last closed candle."""


async def download_candles(
    exchange: Any,
    symbol: str,
    interval: str,
    out: str | Path,
    *,
    since_ms: int,
    until_ms: int | None = None,
    page_limit: int = DEFAULT_PAGE_LIMIT,
    clock: Clock | None = None,
    progress: DownloadProgress | None = None,
    retries: int = DEFAULT_RETRIES,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DownloadResult:
    """Fetch ``symbol`` (a ccxt market symbol, e.g. ``BTC/USDT``) candles of open time in
    ``[since_ms, until_ms)`` into ``out``, resuming what an earlier run left there."""
    _check_timeframe(exchange, interval)
    _ensure_rate_limit(exchange)
    out = Path(out)
    interval_ms = parse_interval_seconds(interval) * 1000
    now = (clock or SystemClock()).now_ms()
    end = min(until_ms if until_ms is not None else now, now - interval_ms + 1)
    window = _Window(symbol, interval, interval_ms, end)
    part = _part_path(out)
    last_ts, existing = _prepare_part(out, part)
    resumed_from = last_ts
    cursor = since_ms if last_ts is None else max(since_ms, last_ts + interval_ms)
    total = existing + max(0, -(-(end - cursor) // interval_ms))
    written, gaps = 0, 0
    with part.open("a", encoding="ascii", newline="\n") as sink:
        while cursor < end:
            rows = await _page(exchange, window, cursor, page_limit, retries, sleep)
            if not rows:
                break
            gaps += _count_gaps(rows, last_ts, interval_ms)
            sink.write("".join(_line(row) for row in rows))
            sink.flush()
            written += len(rows)
            last_ts, cursor = rows[-1][0], rows[-1][0] + interval_ms
            if progress is not None:
                progress(existing + written, max(total, existing + written))
        os.fsync(sink.fileno())
    os.replace(part, out)
    if gaps:
        logger.warning("%s has %d gaps (candles missing at the venue)", out.name, gaps)
    return DownloadResult(
        path=out,
        new_rows=written,
        total_rows=existing + written,
        first_ts=_first_ts(out),
        last_ts=last_ts,
        resumed_from_ts=resumed_from,
        gaps=gaps,
    )


def _check_timeframe(exchange: Any, interval: str) -> None:
    timeframes = getattr(exchange, "timeframes", None) or {}
    if timeframes and interval not in timeframes:
        raise ConfigError(
            f"{exchange.id} has no {interval} candles; it offers {', '.join(timeframes)}"
        )


def _ensure_rate_limit(exchange: Any) -> None:
    if getattr(exchange, "enableRateLimit", True) is False:
        logger.warning("enabling ccxt's rate limiter for the download")
        exchange.enableRateLimit = True


def _part_path(out: Path) -> Path:
    return out.with_name(out.name + ".part")


def _prepare_part(out: Path, part: Path) -> tuple[int | None, int]:
    """Make ``part`` hold every complete row so far; return its last timestamp and row count."""
    if not part.exists():
        if out.exists():
            shutil.copyfile(out, part)
        else:
            part.write_text(HEADER + "\n", encoding="ascii")
    text = part.read_text(encoding="ascii")
    if not text.startswith(HEADER):
        raise ConfigError(f"{part if part.exists() else out} is not a {HEADER} file")
    complete = text[: text.rfind("\n") + 1] if "\n" in text else ""
    if len(complete) != len(text):
        part.write_text(complete or HEADER + "\n", encoding="ascii")  # drop a torn last line
    lines = complete.splitlines()[1:]
    if not lines:
        return None, 0
    logger.info("resuming %s after %d candles", out.name, len(lines))
    return int(lines[-1].split(",", 1)[0]), len(lines)


async def _page(
    exchange: Any,
    window: _Window,
    cursor: int,
    limit: int,
    retries: int,
    sleep: Callable[[float], Awaitable[None]],
) -> list[Row]:
    for attempt in range(retries + 1):
        try:
            with translate_ccxt_errors(
                str(getattr(exchange, "id", "exchange")), symbol=window.symbol
            ):
                raw = await exchange.fetch_ohlcv(
                    window.symbol, timeframe=window.interval, since=cursor, limit=limit
                )
            return _usable_rows(raw, cursor, window)
        except TemporaryError as exc:
            if attempt == retries:
                raise
            delay = BACKOFF_S * 2**attempt
            logger.warning("page at %d failed (%s); retrying in %.0f s", cursor, exc, delay)
            await sleep(delay)
    return []


def _usable_rows(raw: list[list[Any]], cursor: int, window: _Window) -> list[Row]:
    """Complete, closed, in-window rows at or after the cursor, strictly increasing."""
    rows: list[Row] = []
    for item in raw or []:
        if len(item) < 6 or any(v is None for v in item[:6]):
            continue
        ts = int(item[0])
        if ts < cursor or ts >= window.end_ms or (rows and ts <= rows[-1][0]):
            continue
        rows.append((ts, *(float(v) for v in item[1:6])))  # type: ignore[arg-type]
    return rows


def _count_gaps(rows: list[Row], last_ts: int | None, interval_ms: int) -> int:
    stamps = ([last_ts] if last_ts is not None else []) + [row[0] for row in rows]
    return sum(1 for a, b in zip(stamps, stamps[1:], strict=False) if b - a > interval_ms)


def _line(row: Row) -> str:
    return ",".join([str(row[0]), *(repr(v) for v in row[1:])]) + "\n"


def _first_ts(path: Path) -> int | None:
    with path.open(encoding="ascii") as source:
        source.readline()
        first = source.readline()
    return int(first.split(",", 1)[0]) if first.strip() else None
