"""Reading a candle CSV (``timestamp,open,high,low,close,volume``) and refusing bad rows.

A row is bad when a field is missing or empty, a value is not a number (or not finite), the
timestamp is not a whole number of milliseconds or not later than the previous row's, a price is
not positive, the volume is negative, or the candle is impossible: ``high < low``, or open or close
outside ``[low, high]``. A replay never trades on such a row: by default the first one raises
``ConfigError`` naming the file (as given) and its line; with ``skip_bad_rows`` every bad row is
left out and one warning counts them.

Good files take the fast path (pandas' C reader and vectorized checks); a file that fails any check
is read again row by row, which is what finds the line numbers and reasons.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradeloop.trading.errors import ConfigError

logger = logging.getLogger(__name__)

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
SKIP_HINT = "fix the file, or skip such rows with --skip-bad-rows (skip_bad_rows=True)"
_DTYPES = {"timestamp": "int64"} | {name: "float64" for name in COLUMNS[1:]}

Columns = dict[str, np.ndarray]
"""``ts`` (int64 ms) and ``open``/``high``/``low``/``close``/``volume`` (float64), oldest first."""


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


def read_candle_csv(path: Path, *, shown: str | Path, skip_bad_rows: bool = False) -> Columns:
    """The checked columns of ``path``; ``shown`` is how messages name the file (as the user gave
    it). Raises ``ConfigError`` on an unreadable file, a wrong header or (unless
    ``skip_bad_rows``) the first bad row."""
    columns = _fast(path, shown)
    if columns is not None:
        return columns
    columns, bad = _row_by_row(path, shown)
    if bad and not skip_bad_rows:
        first = bad[0]
        more = f" ({len(bad) - 1} more bad rows after it)" if len(bad) > 1 else ""
        raise ConfigError(f"{shown} line {first.line}: {first.reason}{more}; {SKIP_HINT}")
    if bad:
        logger.warning(
            "%s: skipped %d bad rows (first at line %d: %s)",
            shown,
            len(bad),
            bad[0].line,
            bad[0].reason,
        )
    return columns


def _fast(path: Path, shown: str | Path) -> Columns | None:
    """The columns when every row passes the vectorized checks, else None (read row by row)."""
    try:
        frame = pd.read_csv(path, dtype=_DTYPES, engine="c")
    except OSError as exc:
        raise ConfigError(f"cannot read candles from {shown}: {exc}") from exc
    except ValueError:  # a non-number, an empty timestamp, a row with extra fields
        _check_header(path, shown)
        return None
    if tuple(frame.columns) != COLUMNS:
        _check_header(path, shown)
        return None  # the header differs only in spacing
    columns = {"ts": frame["timestamp"].to_numpy()} | {
        name: frame[name].to_numpy() for name in COLUMNS[1:]
    }
    return columns if _all_good(columns) else None


def _all_good(c: Columns) -> bool:
    prices = np.stack([c["open"], c["high"], c["low"], c["close"]])
    return bool(
        np.isfinite(prices).all()
        and np.isfinite(c["volume"]).all()
        and (prices > 0).all()
        and (c["volume"] >= 0).all()
        and (c["low"] <= np.minimum(c["open"], c["close"])).all()
        and (c["high"] >= np.maximum(c["open"], c["close"])).all()
        and (c["ts"] >= 0).all()
        and (np.diff(c["ts"]) > 0).all()
    )


def _check_header(path: Path, shown: str | Path) -> None:
    try:
        with path.open(newline="", encoding="utf-8") as source:
            header = next(csv.reader(source), [])
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read candles from {shown}: {exc}") from exc
    if tuple(name.strip() for name in header) != COLUMNS:
        raise ConfigError(f"{shown} line 1: header must be {','.join(COLUMNS)}")


def _row_by_row(path: Path, shown: str | Path) -> tuple[Columns, list[BadRow]]:
    _check_header(path, shown)
    kept: list[tuple[int, float, float, float, float, float]] = []
    bad: list[BadRow] = []
    last_ts: int | None = None
    for line, fields in _rows(path, shown):
        try:
            row = _parse(fields, last_ts)
        except ValueError as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        kept.append(row)
        last_ts = row[0]
    table = np.array(kept, dtype=np.float64).reshape(-1, len(COLUMNS))
    columns: Columns = {"ts": np.array([row[0] for row in kept], dtype=np.int64)}
    columns |= {name: table[:, i + 1].copy() for i, name in enumerate(COLUMNS[1:])}
    return columns, bad


def _rows(path: Path, shown: str | Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank row after the header."""
    try:
        with path.open(newline="", encoding="utf-8") as source:
            reader = csv.reader(source)
            next(reader, None)
            for fields in reader:
                if fields:
                    yield reader.line_num, fields
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read candles from {shown}: {exc}") from exc


def _parse(fields: list[str], last_ts: int | None) -> tuple[int, float, float, float, float, float]:
    """One checked row, or ``ValueError`` saying what is wrong with it."""
    if len(fields) != len(COLUMNS):
        raise ValueError(f"{len(fields)} fields, expected {len(COLUMNS)} ({','.join(COLUMNS)})")
    values = [_number(name, text) for name, text in zip(COLUMNS, fields, strict=True)]
    ts = _timestamp(values[0])
    open_, high, low, close, volume = values[1:]
    for name, price in (("open", open_), ("high", high), ("low", low), ("close", close)):
        if price <= 0:
            raise ValueError(f"{name} {price:g} is not a positive price")
    if volume < 0:
        raise ValueError(f"volume {volume:g} is negative")
    if high < low:
        raise ValueError(f"high {high:g} is below low {low:g}")
    for name, price in (("open", open_), ("close", close)):
        if not low <= price <= high:
            raise ValueError(f"{name} {price:g} is outside [low {low:g}, high {high:g}]")
    if last_ts is not None and ts == last_ts:
        raise ValueError(f"duplicate timestamp {ts}")
    if last_ts is not None and ts < last_ts:
        raise ValueError(f"timestamp {ts} is before the previous row's {last_ts}")
    return ts, open_, high, low, close, volume


def _number(name: str, text: str) -> float:
    text = text.strip()
    if not text:
        raise ValueError(f"{name} is empty")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text[:30]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {text[:30]!r} is not a finite number")
    return value


def _timestamp(value: float) -> int:
    if not value.is_integer() or value < 0:
        raise ValueError(f"timestamp {value:g} is not a whole, non-negative number of milliseconds")
    return int(value)
