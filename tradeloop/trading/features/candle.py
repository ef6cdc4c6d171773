"""Candle feature vectors: one per symbol and interval, from the latest closed candle."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from tradeloop.trading.features.indicators import FrameArrays, indicator_frame
from tradeloop.trading.features.interfaces import CandleBasedFeatureComputer
from tradeloop.trading.features.keys import CANDLE_GROUP_PREFIX, RECENT_COUNT
from tradeloop.trading.models import (
    Candle,
    FeatureVector,
    constructor,
    instrument_ref,
)
from tradeloop.trading.utils import parse_interval_seconds

_vector = constructor(FeatureVector)


class SimpleCandleFeatureComputer(CandleBasedFeatureComputer):
    """Every ``FEATURE_KEYS`` indicator of the latest candle, plus its recent closes and RSI."""

    def __init__(self, exchange_id: str | None = None) -> None:
        self._exchange_id = exchange_id

    def compute_features(self, candles: list[Candle]) -> list[FeatureVector]:
        """One vector per (symbol, interval) present in ``candles``, in order of first appearance."""
        groups: dict[tuple[str, str], list[Candle]] = defaultdict(list)
        for candle in candles:
            groups[(candle.instrument.symbol, candle.interval)].append(candle)
        return [self._from_candles(s, iv, group) for (s, iv), group in groups.items()]

    def vector_at(
        self, arrays: FrameArrays, i: int, symbol: str, interval: str, close_ts: int
    ) -> FeatureVector:
        """The vector of row ``i`` of a precomputed indicator frame (``close_ts``: its close time)."""
        recent = {key: arrays.recent(key, i, RECENT_COUNT) for key in ("close", "rsi")}
        return _vector(
            ts=close_ts,
            instrument=instrument_ref(symbol, self._exchange_id),
            values=arrays.values_at(i),
            meta={
                "interval": interval,
                "group_by_key": f"{CANDLE_GROUP_PREFIX}{interval}",
                "recent": recent,
            },
        )

    def _from_candles(self, symbol: str, interval: str, candles: list[Candle]) -> FeatureVector:
        candles = sorted(candles, key=lambda c: c.ts)
        frame = pd.DataFrame(
            {
                name: [getattr(c, name) for c in candles]
                for name in ("open", "high", "low", "close", "volume")
            }
        )
        arrays = FrameArrays.from_frame(indicator_frame(frame))
        close_ts = candles[-1].ts + parse_interval_seconds(interval) * 1000
        return self.vector_at(arrays, len(candles) - 1, symbol, interval, close_ts)
