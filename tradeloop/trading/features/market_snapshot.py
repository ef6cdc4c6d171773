"""Snapshot feature vectors: one per symbol, with price (and funding, open interest where known)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tradeloop.trading.features.keys import SNAPSHOT_GROUP, SNAPSHOT_KEYS
from tradeloop.trading.models import FeatureVector, InstrumentRef, constructor

_vector = constructor(FeatureVector)


class MarketSnapshotFeatureComputer:
    """Turns ``BaseMarketDataSource.get_market_snapshot`` output into vectors of ``SNAPSHOT_KEYS``."""

    def __init__(self, exchange_id: str | None = None) -> None:
        self._exchange_id = exchange_id
        self._instruments: dict[str, InstrumentRef] = {}

    def compute_features(
        self, snapshot: Mapping[str, Mapping[str, Any]], now_ms: int
    ) -> list[FeatureVector]:
        """Symbols without a finite price are left out; ``ts`` is the entry's own, else ``now_ms``."""
        vectors = []
        for symbol, entry in snapshot.items():
            values = _numbers(entry)
            if "price" not in values:
                continue
            vectors.append(
                _vector(
                    ts=int(entry.get("ts", now_ms)),
                    instrument=self._instrument(symbol),
                    values=values,
                    meta={"group_by_key": SNAPSHOT_GROUP},
                )
            )
        return vectors

    def _instrument(self, symbol: str) -> InstrumentRef:
        ref = self._instruments.get(symbol)
        if ref is None:
            ref = self._instruments[symbol] = InstrumentRef(
                symbol=symbol, exchange_id=self._exchange_id
            )
        return ref


def _numbers(entry: Mapping[str, Any]) -> dict[str, float]:
    values = {}
    for key in SNAPSHOT_KEYS:
        value = entry.get(key)
        if type(value) is float:  # the common case, checked without isinstance chains
            if math.isfinite(value):
                values[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                values[key] = float(value)
    return values
