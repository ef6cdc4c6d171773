"""Snapshot feature vectors: one per symbol, with price (and funding, open interest where known)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tradeloop.trading.features.keys import SNAPSHOT_GROUP, SNAPSHOT_KEYS
from tradeloop.trading.models import FeatureVector, constructor, instrument_ref

_vector = constructor(FeatureVector)


class MarketSnapshotFeatureComputer:
    """Turns ``BaseMarketDataSource.get_market_snapshot`` output into vectors of ``SNAPSHOT_KEYS``."""

    def __init__(self, exchange_id: str | None = None) -> None:
        self._exchange_id = exchange_id

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
                    instrument=instrument_ref(symbol, self._exchange_id),
                    values=values,
                    meta={"group_by_key": SNAPSHOT_GROUP},
                )
            )
        return vectors


def _numbers(entry: Mapping[str, Any]) -> dict[str, float]:
    values = {}
    for key in SNAPSHOT_KEYS:
        value = entry.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            values[key] = float(value)
    return values
