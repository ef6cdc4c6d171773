"""The default features pipeline: candle indicators per symbol and interval, plus a market snapshot.

With a live source each cycle fetches ``candle_lookback`` closed candles per symbol and interval
(concurrently) and computes the indicators on that window. With a ``ReplayMarketDataSource`` it
takes a fast path instead: the indicator frame of each whole series is computed once, and every
cycle serves the row of the latest visible candle. Indicators are causal (see ``indicators``), so
that row is identical to computing on the visible candles alone. It can differ slightly from the
live path, whose exponential averages start at the window's first candle rather than the series'.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.data.ccxt_source import CcxtMarketDataSource
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.features.candle import SimpleCandleFeatureComputer
from tradeloop.trading.features.indicators import FrameArrays, indicator_frame
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.features.market_snapshot import MarketSnapshotFeatureComputer
from tradeloop.trading.features.warmup import is_warm, warm_up
from tradeloop.trading.models import (
    Candle,
    FeaturesPipelineResult,
    FeatureVector,
    UserRequest,
    constructor,
)
from tradeloop.trading.utils import parse_interval_seconds

logger = logging.getLogger(__name__)
_result = constructor(FeaturesPipelineResult)


@dataclass(frozen=True, slots=True)
class _ReplayFrame:
    """A whole replay series' indicators, and the close time of each of its candles."""

    arrays: FrameArrays
    close_ts: list[int]


_SHARED_FRAMES: OrderedDict[int, tuple[object, _ReplayFrame]] = OrderedDict()
_SHARED_FRAMES_MAX = 256
"""Indicator frames over whole replay series, shared by every pipeline of the process: 200
strategies on the same files compute and hold each frame once. Keyed by the identity of the
source's series object, which the entry keeps alive so the id cannot be reused."""


def _shared_frame(source: ReplayMarketDataSource, symbol: str, interval: str) -> _ReplayFrame:
    handle = source.series_handle(symbol, interval)
    entry = _SHARED_FRAMES.get(id(handle))
    if entry is not None and entry[0] is handle:
        _SHARED_FRAMES.move_to_end(id(handle))
        return entry[1]
    series = source.series(symbol, interval)
    interval_ms = parse_interval_seconds(interval) * 1000
    frame = _ReplayFrame(
        arrays=FrameArrays.from_frame(indicator_frame(series)),
        close_ts=(series["ts"].to_numpy() + interval_ms).tolist(),
    )
    logger.debug("%s %s: indicators computed over %d candles", symbol, interval, len(series))
    _SHARED_FRAMES[id(handle)] = (handle, frame)
    while len(_SHARED_FRAMES) > _SHARED_FRAMES_MAX:
        _SHARED_FRAMES.popitem(last=False)
    return frame


class DefaultFeaturesPipeline(BaseFeaturesPipeline):
    def __init__(
        self,
        request: UserRequest,
        market_data: BaseMarketDataSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        config = request.exchange_config
        self._symbols = list(request.trading_config.symbols)
        self._intervals = list(request.trading_config.feature_intervals)
        self._lookback = request.trading_config.candle_lookback
        if clock is None and isinstance(market_data, ReplayMarketDataSource):
            clock = market_data.clock
        self._clock: Clock = clock or SystemClock()
        self._owns_market_data = market_data is None
        self._market_data = market_data or CcxtMarketDataSource(
            config.exchange_id, config.market_type, config.testnet, clock=self._clock
        )
        self._candles = SimpleCandleFeatureComputer(config.exchange_id)
        self._snapshots = MarketSnapshotFeatureComputer(config.exchange_id)
        self._replay_frames: dict[tuple[str, str], _ReplayFrame] = {}
        self._served: dict[tuple[str, str], tuple[int, FeatureVector]] = {}
        """The latest candle vector per series and the candle count it was built at: frozen, so a
        cycle that sees no new candle of a series gets the same vector again."""

    async def build(self) -> FeaturesPipelineResult:
        if not is_warm():
            await asyncio.to_thread(warm_up)
        if isinstance(self._market_data, ReplayMarketDataSource):
            candle_vectors = self._replay_vectors(self._market_data)
            snapshot = await self._market_data.get_market_snapshot(self._symbols)
        else:
            candle_vectors, snapshot = await self._live_vectors()
        now_ms = self._clock.now_ms()
        snapshot_vectors = self._snapshots.compute_features(snapshot, now_ms)
        return _result(features=candle_vectors + snapshot_vectors)

    async def close(self) -> None:
        if self._owns_market_data:
            await self._market_data.close()

    async def _live_vectors(self) -> tuple[list[FeatureVector], dict[str, dict[str, Any]]]:
        source = self._market_data
        per_interval, snapshot = await asyncio.gather(
            asyncio.gather(
                *(
                    source.get_recent_candles(self._symbols, iv, self._lookback)
                    for iv in self._intervals
                )
            ),
            source.get_market_snapshot(self._symbols),
        )
        candles: list[Candle] = [c for group in per_interval for c in group]
        # pandas-ta takes about 5 ms per symbol and interval: off the event loop, so the server's
        # other strategies and tool calls are not held up while a big strategy computes.
        computed = await asyncio.to_thread(self._candles.compute_features, candles)
        by_key = {(v.instrument.symbol, v.meta["interval"] if v.meta else ""): v for v in computed}
        ordered = [by_key.get((s, iv)) for s in self._symbols for iv in self._intervals]
        return [v for v in ordered if v is not None], snapshot

    def _replay_vectors(self, source: ReplayMarketDataSource) -> list[FeatureVector]:
        vectors = []
        served = self._served
        for symbol in self._symbols:
            for interval in self._intervals:
                key = (symbol, interval)
                n = source.visible_count(symbol, interval)
                last = served.get(key)
                if last is not None and last[0] == n:  # no new candle (e.g. a 4h series, hourly)
                    vectors.append(last[1])
                    continue
                if n == 0:
                    logger.debug("%s %s: no closed candle yet", symbol, interval)
                    continue
                frame = self._replay_frame(source, symbol, interval)
                vector = self._candles.vector_at(
                    frame.arrays, n - 1, symbol, interval, frame.close_ts[n - 1]
                )
                served[key] = (n, vector)
                vectors.append(vector)
        return vectors

    def replay_series(self, symbol: str, interval: str) -> tuple[FrameArrays, list[int]] | None:
        """The whole-series indicators this pipeline serves ``symbol``'s ``interval`` vectors from,
        and each row's close time; None when it serves no such series from a replay."""
        source = self._market_data
        if not isinstance(source, ReplayMarketDataSource):
            return None
        if symbol not in self._symbols or interval not in self._intervals:
            return None
        frame = self._replay_frame(source, symbol, interval)
        return frame.arrays, frame.close_ts

    def _replay_frame(
        self, source: ReplayMarketDataSource, symbol: str, interval: str
    ) -> _ReplayFrame:
        key = (symbol, interval)
        cached = self._replay_frames.get(key)
        if cached is None:
            cached = self._replay_frames[key] = _shared_frame(source, symbol, interval)
        return cached
