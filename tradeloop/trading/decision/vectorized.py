"""The opt-in that lets a backtest skip a composer's quiet cycles (fast-forward).

A composer whose decisions are threshold tests on precomputed feature columns can say, for every
cycle of a backtest at once, where it *might* act: ``BaseComposer.cycle_signals`` returns, per
symbol, three boolean arrays over the run's cycles, one per position side of that symbol (flat,
long, short). The promise: at a cycle where the array of every symbol's current side is False,
``compose`` proposes no instruction. A True may be a false alarm (that cycle simply runs as usual);
a False that hides a proposal would make the backtest wrong, so when in doubt, say True.

The backtest runner then runs only the cycles where something can happen (a signal, or a stop-loss
or take-profit level that a candle touches) through the whole pipeline, and applies the quiet
stretches between them in bulk (see ``tradeloop.backtest.fast_forward``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class CycleFeatures(Protocol):
    """Feature columns as a backtest's cycles see them: element ``i`` is the value the cycle at
    ``slots[i]`` gets in its candle vector, NaN where that cycle gets none (no closed candle yet, an
    undefined indicator, or a series the strategy does not compute)."""

    @property
    def slots(self) -> np.ndarray:
        """Cycle times in ms (int64), oldest first."""
        ...

    def column(self, symbol: str, interval: str, key: str) -> np.ndarray:
        """Float64 values of feature ``key`` of ``symbol``'s ``interval`` candles at each cycle."""
        ...


@dataclass(frozen=True, slots=True)
class SideSignals:
    """Per cycle: may the composer propose something for this symbol, given its position side?"""

    flat: np.ndarray
    long: np.ndarray
    short: np.ndarray

    def for_quantity(self, quantity: float) -> np.ndarray:
        if quantity > 0:
            return self.long
        return self.short if quantity < 0 else self.flat


def defined(values: np.ndarray, default: float = 0.0) -> np.ndarray:
    """``values`` with NaN and infinities replaced by ``default``: what ``dict.get(key, default)``
    reads from a vector, which leaves non-finite values out."""
    return np.where(np.isfinite(values), values, default)
