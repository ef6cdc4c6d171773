"""Historical candles replayed against a simulated clock, for backtests and offline tests.

Each CSV (``timestamp,open,high,low,close,volume``, timestamp = candle open time in ms) is read once
into read-only numpy arrays. Candle ``i`` is visible at clock time ``now`` iff
``ts[i] + interval_ms <= now``: a replay never shows a candle that had not closed yet, so a
backtest cannot peek into the future. Rows are checked as they load (``candle_csv``): a bad row
stops the load with its file and line unless the source was made with ``skip_bad_rows``. A coarser interval without its own file is resampled from
the coarsest finer file that divides it, in epoch-aligned buckets, keeping complete buckets only
(weekly buckets are therefore aligned to Thursday 1970-01-01, unlike venues' Monday weeks).
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeloop.trading.clock import Clock
from tradeloop.trading.data.candle_csv import COLUMNS as _COLUMNS
from tradeloop.trading.data.candle_csv import read_candle_csv
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import Candle, InstrumentRef
from tradeloop.trading.utils import normalize_symbol, parse_interval_seconds

logger = logging.getLogger(__name__)

_FILE_RE = re.compile(
    r"^(?:(?P<venue>.+)_)?(?P<symbol>[A-Za-z0-9-]+)_(?P<interval>\d+[smhdw])\.csv$"
)
_MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class _Series:
    """One symbol at one interval: read-only arrays, oldest first."""

    interval_ms: int
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    close_ts: np.ndarray
    close_ts_list: list[int]
    """``close_ts`` as Python ints: a bisect on it is several times cheaper than a numpy call for
    the one lookup per cycle a replay makes."""

    @classmethod
    def of(cls, interval_ms: int, columns: Mapping[str, np.ndarray]) -> _Series:
        ts = np.ascontiguousarray(columns["ts"], dtype=np.int64)
        arrays = {
            name: np.ascontiguousarray(columns[name], dtype=np.float64) for name in _COLUMNS[1:]
        }
        close_ts = ts + interval_ms
        series = cls(
            interval_ms=interval_ms,
            ts=ts,
            close_ts=close_ts,
            close_ts_list=close_ts.tolist(),
            **arrays,
        )
        for array in (series.ts, series.close_ts, *arrays.values()):
            array.flags.writeable = False
        return series

    def __len__(self) -> int:
        return len(self.ts)

    def visible_count(self, now_ms: int) -> int:
        return bisect.bisect_right(self.close_ts_list, now_ms)


@dataclass(frozen=True, slots=True)
class SnapshotPath:
    """Per snapshot time: the latest close, and the high and low since the previous snapshot."""

    price: np.ndarray
    high: np.ndarray
    low: np.ndarray


def _snapshot_path_slowly(series: _Series, first: np.ndarray, counts: np.ndarray) -> SnapshotPath:
    price, high, low = (np.full(len(counts), np.nan) for _ in range(3))
    for k, (start, stop) in enumerate(zip(first.tolist(), counts.tolist(), strict=True)):
        if stop > 0:
            price[k] = series.close[stop - 1]
            high[k] = series.high[start:stop].max()
            low[k] = series.low[start:stop].min()
    return SnapshotPath(price, high, low)


SeriesCache = dict[tuple[Path, int], "_Series"]
"""Loaded CSV arrays by (path, interval ms); read-only, so sources may share one."""


class FileSeriesCache(SeriesCache):
    """A ``SeriesCache`` that forgets a file's series when the file changes (size or mtime) and
    keeps the ``limit`` most recently used: one per process lets back-to-back backtests on the
    same files (sweeps, repeated runs) read each file, and compute its indicators, once."""

    def __init__(self, limit: int = 64) -> None:
        super().__init__()
        self._limit = limit
        self._stamps: dict[tuple[Path, int], tuple[int, int]] = {}

    def get(self, key: tuple[Path, int], default: Any = None) -> Any:  # type: ignore[override]
        series = super().get(key)
        if series is None:
            return default
        if self._stamps.get(key) != _stamp(key[0]):
            del self[key]
            return default
        self[key] = self.pop(key)  # most recently used last
        return series

    def __setitem__(self, key: tuple[Path, int], series: _Series) -> None:
        self._stamps[key] = _stamp(key[0])
        super().__setitem__(key, series)
        while len(self) > self._limit:
            oldest = next(iter(self))
            del self[oldest]

    def __delitem__(self, key: tuple[Path, int]) -> None:
        super().__delitem__(key)
        self._stamps.pop(key, None)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return stat.st_size, stat.st_mtime_ns


class ReplayMarketDataSource(BaseMarketDataSource):
    """Candles from CSV files, as a live venue would have shown them at the clock's time."""

    def __init__(
        self,
        files: Mapping[tuple[str, str], str | Path],
        clock: Clock,
        *,
        series_cache: SeriesCache | None = None,
        skip_bad_rows: bool = False,
    ) -> None:
        """``files`` maps ``(symbol, interval)`` to a CSV path; ``clock`` is usually a SimulatedClock.

        Sources given the same ``series_cache`` load each file once between them (give lenient
        and strict sources different caches). ``skip_bad_rows``: leave out bad rows with a
        counted warning instead of refusing the file."""
        self._clock = clock
        self._skip_bad_rows = skip_bad_rows
        self._files: dict[str, dict[int, Path]] = {}
        self._shown: dict[Path, Path] = {}
        """Each resolved path as the caller gave it, for messages."""
        self._names: dict[int, str] = {}
        for (symbol, interval), path in files.items():
            interval_ms = _interval_ms(interval)
            resolved = Path(path).resolve()
            self._files.setdefault(_canonical(symbol), {})[interval_ms] = resolved
            self._shown.setdefault(resolved, Path(path))
            self._names.setdefault(interval_ms, interval)
        self._by_path: SeriesCache = {} if series_cache is None else series_cache
        self._snapshot_from: dict[str, int] = {}
        self._resolved: dict[tuple[str, str], _Series] = {}
        """``_series`` answers by the caller's spelling; files never change after ``__init__``."""
        self._finest: dict[str, tuple[str, _Series]] = {}

    @classmethod
    def from_dir(
        cls,
        directory: str | Path,
        clock: Clock,
        venue: str | None = None,
        *,
        series_cache: SeriesCache | None = None,
        skip_bad_rows: bool = False,
    ) -> ReplayMarketDataSource:
        """Every ``[venue_]SYMBOL_INTERVAL.csv`` in ``directory`` (e.g. ``binance_spot_BTCUSDT_1h.csv``)."""
        files: dict[tuple[str, str], Path] = {}
        for path in sorted(Path(directory).glob("*.csv")):
            key = _parse_name(path.name, venue)
            if key is None:
                continue
            if key in files:
                raise ConfigError(
                    f"{files[key].name} and {path.name} both hold {key[0]} {key[1]}; pass venue= to pick one"
                )
            files[key] = path
        if not files:
            raise ConfigError(f"no candle files like binance_spot_BTCUSDT_1h.csv in {directory}")
        return cls(files, clock, series_cache=series_cache, skip_bad_rows=skip_bad_rows)

    @property
    def clock(self) -> Clock:
        return self._clock

    def available(self) -> list[tuple[str, str]]:
        """The ``(symbol, interval)`` pairs that have a file (coarser ones can be resampled)."""
        return [
            (symbol, self._name(ms))
            for symbol, by_ms in sorted(self._files.items())
            for ms in sorted(by_ms)
        ]

    # ------------------------------------------------------------------ the interface

    async def get_recent_candles(
        self, symbols: list[str], interval: str, lookback: int
    ) -> list[Candle]:
        return [c for symbol in symbols for c in self._recent(symbol, interval, lookback)]

    async def get_market_snapshot(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        """Per symbol, price = close of the latest closed candle of its finest file; high/low span
        every finest candle closed since the previous snapshot, so stops and targets checked once
        per cycle see the whole path between cycles, not only its last candle."""
        snapshot: dict[str, dict[str, Any]] = {}
        now_ms = self._clock.now_ms()
        for symbol in symbols:
            canonical, series = self._finest_series(symbol)
            n = series.visible_count(now_ms)
            if n == 0:
                continue
            i = n - 1
            first = self._snapshot_from.get(canonical, i)
            first = i if first > i else first
            self._snapshot_from[canonical] = n
            spans = (
                first < i
            )  # one candle since the last snapshot is the common case: no numpy call
            snapshot[canonical] = {
                "price": series.close.item(i),
                "high": float(series.high[first:n].max()) if spans else series.high.item(i),
                "low": float(series.low[first:n].min()) if spans else series.low.item(i),
                "ts": series.close_ts_list[i],
            }
        return snapshot

    # ------------------------------------------------------------------ replay helpers

    @contextmanager
    def peek(self) -> Iterator[None]:
        """Snapshots taken inside do not count as seen: the next snapshot after the block still
        spans every candle since the one before it (a preview must not hide a stop's touch)."""
        saved = dict(self._snapshot_from)
        try:
            yield
        finally:
            self._snapshot_from = saved

    def snapshot_path(self, symbol: str, times: np.ndarray) -> SnapshotPath:
        """What ``get_market_snapshot`` would report for ``symbol`` if called at each of ``times``
        in turn (the first as if no snapshot came before it), for a backtest that applies quiet
        cycles in bulk; NaN where no candle had closed yet."""
        _, series = self._finest_series(symbol)
        counts = np.searchsorted(series.close_ts, times, side="right")
        last = counts - 1
        first = np.minimum(np.concatenate((last[:1], counts[:-1])), last)
        if len(times) and counts[0] > 0 and bool(np.all(first[1:] == counts[:-1])):
            # every cycle sees new candles right after the previous one's: one pass per column
            span = slice(int(first[0]), int(counts[-1]))
            starts = first - first[0]
            high = np.maximum.reduceat(series.high[span], starts)
            low = np.minimum.reduceat(series.low[span], starts)
            return SnapshotPath(series.close[last], high, low)
        return _snapshot_path_slowly(series, first, counts)

    def skip_snapshots(self, symbols: Iterable[str], now_ms: int) -> None:
        """Count snapshots of ``symbols`` as taken at ``now_ms`` without taking them: the next one
        spans only candles closed after it (quiet cycles a backtest applied in bulk)."""
        for symbol in symbols:
            canonical, series = self._finest_series(symbol)
            n = series.visible_count(now_ms)
            if n:
                self._snapshot_from[canonical] = n

    def visible_count(self, symbol: str, interval: str) -> int:
        """How many candles of ``series(symbol, interval)`` had closed at the clock's time."""
        return self._series(symbol, interval).visible_count(self._clock.now_ms())

    def series(self, symbol: str, interval: str) -> pd.DataFrame:
        """The whole series (future included), rows 0..n-1, columns ts/open/high/low/close/volume."""
        series = self._series(symbol, interval)
        return pd.DataFrame({"ts": series.ts} | {c: getattr(series, c) for c in _COLUMNS[1:]})

    def series_handle(self, symbol: str, interval: str) -> object:
        """An object that identifies the data behind ``series(symbol, interval)``: sources sharing a
        ``series_cache`` return the same object for the same file, so derived data can be shared."""
        return self._series(symbol, interval)

    def latest_candle(self, symbol: str, interval: str) -> Candle | None:
        """The most recent closed candle, or None before the first one closes."""
        candles = self._recent(symbol, interval, 1)
        return candles[0] if candles else None

    def load(self, symbols: Iterable[str]) -> None:
        """Read and check every file of ``symbols`` now, so that a bad file is refused before
        the first cycle rather than in the middle of a run (``ConfigError`` naming file and line)."""
        for symbol in symbols:
            canonical = _canonical(symbol)
            for interval_ms in self._known(canonical):
                self._native(canonical, interval_ms)

    def first_ts(self) -> int:
        """Open time of the first candle from which every file has data (common coverage start)."""
        return max(int(s.ts[0]) for s in self._all_native())

    def last_ts(self) -> int:
        """Close time of the last candle that every file still covers (common coverage end)."""
        return min(int(s.close_ts[-1]) for s in self._all_native())

    def start_ms(
        self,
        warmup_candles: int,
        intervals: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
    ) -> int:
        """The earliest clock time at which each series has ``warmup_candles`` closed candles.

        Series are the given symbols x intervals (resampled as needed), else every file.
        """
        if warmup_candles <= 0:
            return self.first_ts()
        chosen = [_canonical(s) for s in symbols] if symbols is not None else sorted(self._files)
        if intervals is None:
            pairs = [(s, ms) for s in chosen for ms in self._known(s)]
        else:
            pairs = [(s, _interval_ms(iv)) for s in chosen for iv in intervals]
        return max(self._warm_time(s, ms, warmup_candles) for s, ms in pairs)

    # ------------------------------------------------------------------ internals

    def _warm_time(self, symbol: str, interval_ms: int, warmup_candles: int) -> int:
        series = self._series_ms(symbol, interval_ms)
        if len(series) < warmup_candles:
            raise ConfigError(
                f"{symbol} {self._name(interval_ms)} has {len(series)} candles, "
                f"fewer than the {warmup_candles} needed to warm up"
            )
        return int(series.close_ts[warmup_candles - 1])

    def _recent(self, symbol: str, interval: str, lookback: int) -> list[Candle]:
        canonical = _canonical(symbol)
        series = self._series(canonical, interval)
        end = series.visible_count(self._clock.now_ms())
        instrument = InstrumentRef(symbol=canonical)
        return [
            _candle(series, i, instrument, interval) for i in range(max(0, end - lookback), end)
        ]

    def _series(self, symbol: str, interval: str) -> _Series:
        series = self._resolved.get((symbol, interval))
        if series is None:
            series = self._series_ms(_canonical(symbol), _interval_ms(interval))
            self._resolved[(symbol, interval)] = series
        return series

    def _finest_series(self, symbol: str) -> tuple[str, _Series]:
        """The canonical symbol and its finest native series (the snapshot's price source)."""
        found = self._finest.get(symbol)
        if found is None:
            canonical = _canonical(symbol)
            found = canonical, self._native(canonical, min(self._known(canonical)))
            self._finest[symbol] = found
        return found

    def _series_ms(self, symbol: str, interval_ms: int) -> _Series:
        if interval_ms in self._known(symbol):
            return self._native(symbol, interval_ms)
        finer = [ms for ms in self._known(symbol) if ms < interval_ms and interval_ms % ms == 0]
        if not finer:
            raise self._missing(f"{symbol} {self._name(interval_ms)}")
        key = (self._files[symbol][max(finer)], interval_ms)  # shared like the native series
        cached = self._by_path.get(key)
        if cached is None:
            cached = self._by_path[key] = _resample(self._native(symbol, max(finer)), interval_ms)
        return cached

    def _known(self, symbol: str) -> dict[int, Path]:
        by_ms = self._files.get(symbol)
        if by_ms is None:
            raise self._missing(symbol)
        return by_ms

    def _native(self, symbol: str, interval_ms: int) -> _Series:
        key = (self._files[symbol][interval_ms], interval_ms)
        series = self._by_path.get(key)
        if series is None:
            series = self._by_path[key] = self._load(key[0], interval_ms)
        return series

    def _load(self, path: Path, interval_ms: int) -> _Series:
        shown = self._shown.get(path, path)
        columns = read_candle_csv(path, shown=shown, skip_bad_rows=self._skip_bad_rows)
        logger.debug("loaded %d candles from %s", len(columns["ts"]), shown)
        return _Series.of(interval_ms, columns)

    def _name(self, interval_ms: int) -> str:
        return self._names.get(interval_ms) or _interval_name(interval_ms)

    def _all_native(self) -> list[_Series]:
        return [self._native(s, ms) for s, by_ms in self._files.items() for ms in by_ms]

    def _missing(self, what: str) -> ConfigError:
        listed = [f"{s} {iv}" for s, iv in self.available()]
        more = f" and {len(listed) - _MAX_LISTED} more" if len(listed) > _MAX_LISTED else ""
        return ConfigError(
            f"no replay data for {what}; files exist for {', '.join(listed[:_MAX_LISTED])}{more}"
            " (coarser intervals are resampled from a finer file that divides them)"
        )


def _resample(fine: _Series, interval_ms: int) -> _Series:
    """Epoch-aligned buckets of ``interval_ms``; only buckets holding every finer candle."""
    if len(fine) == 0:
        return _Series.of(interval_ms, dict.fromkeys(("ts", *_COLUMNS[1:]), fine.ts))
    per_bucket = interval_ms // fine.interval_ms
    buckets = fine.ts - fine.ts % interval_ms
    starts, first, counts = np.unique(buckets, return_index=True, return_counts=True)
    complete = counts == per_bucket
    last = first + counts - 1
    return _Series.of(
        interval_ms,
        {
            "ts": starts[complete],
            "open": fine.open[first][complete],
            "high": np.maximum.reduceat(fine.high, first)[complete],
            "low": np.minimum.reduceat(fine.low, first)[complete],
            "close": fine.close[last][complete],
            "volume": np.add.reduceat(fine.volume, first)[complete],
        },
    )


def _candle(series: _Series, i: int, instrument: InstrumentRef, interval: str) -> Candle:
    return Candle(
        ts=int(series.ts[i]),
        instrument=instrument,
        open=float(series.open[i]),
        high=float(series.high[i]),
        low=float(series.low[i]),
        close=float(series.close[i]),
        volume=float(series.volume[i]),
        interval=interval,
    )


def _parse_name(name: str, venue: str | None) -> tuple[str, str] | None:
    match = _FILE_RE.match(name)
    if match is None or (venue is not None and match["venue"] != venue):
        return None
    try:
        return normalize_symbol(match["symbol"]), match["interval"]
    except ValueError:
        logger.debug("ignoring %s: %r is not a symbol", name, match["symbol"])
        return None


def _canonical(symbol: str) -> str:
    try:
        return normalize_symbol(symbol)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _interval_ms(interval: str) -> int:
    try:
        return parse_interval_seconds(interval) * 1000
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _interval_name(interval_ms: int) -> str:
    """The shortest exact form of an interval: 90m, 4h, 1d."""
    seconds = interval_ms // 1000
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
