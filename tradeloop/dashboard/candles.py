"""OHLC candles for the dashboard's price chart, from where the strategy's own prices come from:
its replay folder (a replayed strategy, as of its simulated clock), the server's replay folder (a
stored backtest) or the venue's public candles (a live or paper strategy).

The chart never shows a candle that had not closed by the strategy's latest cycle: what the page
draws is what the strategy could have seen. One interval per chart, the decision interval or the
next coarser one that fits the span in ``MAX_CANDLES`` candles (replay files of a coarser interval
than asked are skipped to the next interval they can give).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tradeloop.services.models import StrategyInfo
from tradeloop.services.replay import resolve_venue
from tradeloop.trading.clock import SimulatedClock, SystemClock
from tradeloop.trading.data.ccxt_source import CcxtMarketDataSource
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.data.replay import FileSeriesCache, ReplayMarketDataSource, SeriesCache
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import Candle, MarketType
from tradeloop.trading.utils import parse_interval_seconds

logger = logging.getLogger(__name__)

CHART_INTERVALS = ("1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w")
MAX_CANDLES = 1000
"""Candles per symbol at most: a chart pane is about that many pixels wide."""
BACKTEST_KIND = "backtest"
_CACHE: dict[str, SeriesCache] = {}
"""Loaded CSV arrays shared by every chart request of this process (one load per file)."""


@dataclass(frozen=True)
class ChartCandles:
    interval: str | None
    bars: dict[str, list[Candle]]
    note: str | None = None
    """Why there are no candles (no data, venue unreachable); None when there are."""


def interval_candidates(decide_interval_s: int, span_ms: int) -> list[str]:
    """Chart intervals to try, finest first: at least the decision interval, and coarse enough
    that the span fits in ``MAX_CANDLES`` candles."""
    out = []
    for name in CHART_INTERVALS:
        seconds = parse_interval_seconds(name)
        if seconds >= decide_interval_s and span_ms <= seconds * 1000 * MAX_CANDLES:
            out.append(name)
    return out or [CHART_INTERVALS[-1]]


async def chart_candles(
    info: StrategyInfo, first_ms: int, last_ms: int, server_replay_dir: Path | None
) -> ChartCandles:
    """Each symbol's candles from ``first_ms`` (the first cycle) to ``last_ms`` (the latest)."""
    try:
        source, newest = _source(info, last_ms, server_replay_dir)
    except Exception as exc:  # a moved folder, a bad file: the chart falls back to cycle prices
        return ChartCandles(None, {}, f"candles unavailable: {exc}")
    if source is None:
        return ChartCandles(None, {}, "candles unavailable: the server has no replay folder")
    try:
        for interval in interval_candidates(info.decide_interval, last_ms - first_ms):
            lookback = (newest - first_ms) // (parse_interval_seconds(interval) * 1000) + 2
            try:
                candles = await source.get_recent_candles(
                    list(info.symbols), interval, min(lookback, MAX_CANDLES)
                )
            except ConfigError as exc:  # an interval the files or the venue cannot give
                logger.debug("no %s candles for %s: %s", interval, info.strategy_id, exc)
                continue
            except Exception as exc:  # the venue is unreachable: no use trying other intervals
                return ChartCandles(None, {}, f"candles unavailable: {exc}")
            return ChartCandles(interval, _by_symbol(candles, first_ms, last_ms, interval))
        return ChartCandles(None, {}, "candles unavailable at any chart interval")
    finally:
        await source.close()


def _by_symbol(
    candles: list[Candle], first_ms: int, last_ms: int, interval: str
) -> dict[str, list[Candle]]:
    """From the candle the first cycle saw last (the newest closed by then) to the newest closed
    by the latest cycle."""
    width = parse_interval_seconds(interval) * 1000
    out: dict[str, list[Candle]] = {}
    for candle in candles:
        if first_ms - width < candle.ts + width <= last_ms:
            out.setdefault(candle.instrument.symbol, []).append(candle)
    return out


def _source(
    info: StrategyInfo, last_ms: int, server_replay_dir: Path | None
) -> tuple[BaseMarketDataSource | None, int]:
    """The candle source and the time its newest candles close by (a venue answers with its
    newest, so the lookback counts back from now, not from the last cycle)."""
    if info.replay is not None:
        folder: Path | None = Path(info.replay.data_dir)
        venue = resolve_venue(info.replay, info.request)
        lenient = info.replay.skip_bad_rows
    elif info.agent_kind == BACKTEST_KIND:
        folder, venue, lenient = server_replay_dir, _venue(info), False
    else:
        ex = info.request.exchange_config
        source = CcxtMarketDataSource(ex.exchange_id, ex.market_type, ex.testnet)
        return source, max(last_ms, SystemClock().now_ms())
    if folder is None:
        return None, last_ms
    cache = _CACHE.setdefault("lenient" if lenient else "strict", FileSeriesCache())
    clock = SimulatedClock(last_ms)
    try:
        replay = ReplayMarketDataSource.from_dir(
            folder, clock, venue=venue, series_cache=cache, skip_bad_rows=lenient
        )
    except Exception:
        if venue is None:
            raise
        replay = ReplayMarketDataSource.from_dir(  # files without the venue prefix
            folder, clock, series_cache=cache, skip_bad_rows=lenient
        )
    return replay, last_ms


def _venue(info: StrategyInfo) -> str:
    ex = info.request.exchange_config
    return f"{ex.exchange_id}_{'spot' if ex.market_type is MarketType.SPOT else 'linear'}"
