"""Fast-forward of a backtest's quiet cycles, for composers that declare where they might act.

Most cycles of a rule strategy change nothing: flat with no entry signal, or holding with no exit
signal and no stop-loss or take-profit touched. When the composer is vectorizable
(``BaseComposer.cycle_signals``, see ``trading.decision.vectorized``), the runner asks
``FastForward.next_active`` for the next cycle at which anything can happen given the positions
held, runs that cycle through the whole pipeline as usual, and applies the stretch before it in
bulk (``FastForward.skip``): for each skipped cycle, the equity the ledger would show at that
cycle's price (exact Decimal, as ``ledger_to_view`` computes it), its equity curve point and its
digest fold, and the replay's snapshot bookkeeping, so the next cycle's high/low spans only the
candles after the last skipped one. The results equal a per-cycle run's: instructions, fills,
equity curve point for point, digest and statistics. Skipped cycles are not recorded as
``CycleResult`` and do not enter the recent decisions a composer sees (a vectorizable composer
decides from features and positions alone).

A cycle is active when: it is the first or the last of the run, a symbol's signal for its current
side is set, a held position's stop-loss or take-profit is touched by the cycle's high/low, or a
symbol has no price at that cycle.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from itertools import repeat

import numpy as np

from tradeloop.backtest.stats import EquityPoint
from tradeloop.trading._internal.runtime import StrategyRuntime
from tradeloop.trading.data.replay import ReplayMarketDataSource, SnapshotPath
from tradeloop.trading.decision.vectorized import SideSignals
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.features.indicators import FrameArrays
from tradeloop.trading.features.pipeline import DefaultFeaturesPipeline
from tradeloop.trading.history.digest import RollingDigestBuilder
from tradeloop.trading.models import MarketType, PositionSnapshot
from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService
from tradeloop.trading.portfolio.ledger import EXACT, ZERO, Ledger

logger = logging.getLogger(__name__)


class CycleColumns:
    """``CycleFeatures`` of a replay pipeline: the row each cycle's candle vector is built from."""

    def __init__(self, pipeline: DefaultFeaturesPipeline, slots: np.ndarray) -> None:
        self._pipeline = pipeline
        self._slots = slots
        self._rows: dict[tuple[str, str], tuple[FrameArrays, np.ndarray] | None] = {}

    @property
    def slots(self) -> np.ndarray:
        return self._slots

    def column(self, symbol: str, interval: str, key: str) -> np.ndarray:
        found = self._series_rows(symbol, interval)
        if found is None or key not in found[0].keys:
            return np.full(len(self._slots), np.nan)
        arrays, rows = found
        values = arrays.matrix[np.maximum(rows, 0), arrays.keys.index(key)]
        return np.where(rows >= 0, values, np.nan)

    def _series_rows(self, symbol: str, interval: str) -> tuple[FrameArrays, np.ndarray] | None:
        key = (symbol, interval)
        if key not in self._rows:
            found = self._pipeline.replay_series(symbol, interval)
            if found is None:
                self._rows[key] = None
            else:
                arrays, close_ts = found
                rows = np.searchsorted(np.asarray(close_ts), self._slots, side="right") - 1
                self._rows[key] = (arrays, rows)
        return self._rows[key]


def _next_true(flags: np.ndarray) -> np.ndarray:
    """``out[i]``: the first index ``j >= i`` with ``flags[j]``, else ``len(flags)``."""
    n = len(flags)
    marked = np.where(flags, np.arange(n), n)
    return np.minimum.accumulate(marked[::-1])[::-1]


class FastForward:
    """Where a run's quiet stretches are, and how to apply one in bulk."""

    def __init__(
        self,
        runtime: StrategyRuntime,
        source: ReplayMarketDataSource,
        slots: np.ndarray,
        signals: dict[str, SideSignals],
        paths: dict[str, SnapshotPath],
    ) -> None:
        coordinator = runtime.coordinator
        assert isinstance(coordinator.portfolio, InMemoryPortfolioService)
        assert isinstance(coordinator.digest, RollingDigestBuilder)
        self._portfolio = coordinator.portfolio
        self._digest = coordinator.digest
        self._source = source
        self._symbols = list(runtime.request.trading_config.symbols)
        self._slots = slots
        self._last = len(slots) - 1
        self._paths = paths
        unpriced = np.zeros(len(slots), dtype=bool)
        for path in paths.values():
            unpriced |= ~np.isfinite(path.price) | ~np.isfinite(path.high)
            unpriced |= ~np.isfinite(path.low)
        self._next: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
            symbol: (
                _next_true(s.flat | unpriced),
                _next_true(s.long | unpriced),
                _next_true(s.short | unpriced),
            )
            for symbol, s in signals.items()
        }
        self._prices: dict[str, list[float]] = {s: p.price.tolist() for s, p in paths.items()}

    @classmethod
    def plan(
        cls, runtime: StrategyRuntime, source: ReplayMarketDataSource, slots: np.ndarray
    ) -> FastForward | None:
        """A fast-forward for this run, or None when some part of it must see every cycle."""
        reason = _why_not(runtime)
        if reason is None:
            pipeline = runtime.coordinator.pipeline
            assert isinstance(pipeline, DefaultFeaturesPipeline)
            signals = runtime.coordinator.composer.cycle_signals(CycleColumns(pipeline, slots))
            symbols = runtime.request.trading_config.symbols
            if signals is None:
                reason = "the composer does not declare cycle signals"
            elif set(signals) != set(symbols):
                reason = "the composer's cycle signals do not cover every symbol"
            else:
                paths = {s: source.snapshot_path(s, slots) for s in symbols}
                return cls(runtime, source, slots, signals, paths)
        logger.debug("backtest runs every cycle: %s", reason)
        return None

    async def next_active(self, index: int) -> int:
        """The first cycle at or after ``index`` at which something may happen."""
        if index == 0 or index >= self._last:
            return index
        positions = (await self._portfolio.get_view()).positions
        candidate = self._last
        for symbol, (flat, long, short) in self._next.items():
            position = positions.get(symbol)
            quantity = position.quantity if position is not None else 0.0
            side = long if quantity > 0 else short if quantity < 0 else flat
            candidate = min(candidate, int(side[index]))
            if position is not None and candidate > index:
                candidate = self._first_touch(symbol, position, index, candidate)
        return candidate

    def _first_touch(self, symbol: str, position: PositionSnapshot, start: int, stop: int) -> int:
        """The first cycle in ``[start, stop)`` whose range touches a level of ``position`` (the
        test of ``protective._touched``), else ``stop``."""
        levels, path = (position.stop_loss, position.take_profit), self._paths[symbol]
        if levels == (None, None):
            return stop
        long = position.quantity > 0
        high, low = path.high[start:stop], path.low[start:stop]
        touched = np.zeros(stop - start, dtype=bool)
        for level, below in zip(levels, (long, not long), strict=True):
            if level is not None:
                touched |= (low <= level) if below else (high >= level)
        return start + int(np.argmax(touched)) if touched.any() else stop

    async def skip(self, start: int, stop: int) -> list[EquityPoint]:
        """Apply cycles ``[start, stop)`` in bulk; their equity curve points, in order."""
        ledger = self._portfolio.ledger
        slots = self._slots[start:stop].tolist()
        equity, gross = self._equity_path(ledger, start, stop)
        fees, realized = float(ledger.fees_paid), float(ledger.realized_pnl)
        self._digest.fold_quiet(slots, equity, fees, realized)
        self._source.skip_snapshots(self._symbols, slots[-1])
        return list(map(EquityPoint, slots, equity, gross, repeat(fees, len(slots))))

    def _equity_path(
        self, ledger: Ledger, start: int, stop: int
    ) -> tuple[list[float], list[float]]:
        """Equity and gross exposure at each cycle's price: ``ledger_to_view``'s exact sums."""
        count = stop - start
        if not ledger.positions:
            return [float(ledger.cash)] * count, [0.0] * count
        base = ledger.cash
        if ledger.market_type is not MarketType.SPOT:  # the value term is quantity x price - cost
            for position in ledger.positions.values():
                base = EXACT.subtract(base, position.cost)
        multiply, add = EXACT.multiply, EXACT.add
        terms = [  # map() keeps the per-cycle work in C: these are the run's hottest lines
            list(
                map(
                    multiply,
                    repeat(position.quantity, count),
                    map(Decimal, map(repr, self._prices[symbol][start:stop])),
                )
            )
            for symbol, position in ledger.positions.items()
        ]
        if len(terms) == 1:
            only = terms[0]
            equity = list(map(float, map(add, repeat(base, count), only)))
            return equity, list(map(float, map(abs, only)))
        equity, gross = [], []
        for values in zip(*terms, strict=True):
            total, exposure = base, ZERO
            for v in values:
                total, exposure = add(total, v), add(exposure, abs(v))
            equity.append(float(total))
            gross.append(float(exposure))
        return equity, gross


def _why_not(runtime: StrategyRuntime) -> str | None:
    """What in this runtime needs every cycle to run, if anything."""
    c = runtime.coordinator
    checks = (
        (isinstance(c.pipeline, DefaultFeaturesPipeline), "a custom features pipeline"),
        (isinstance(c.portfolio, InMemoryPortfolioService), "a custom portfolio service"),
        (isinstance(c.digest, RollingDigestBuilder), "a custom digest builder"),
        (isinstance(c.gateway, PaperExecutionGateway), "a custom execution gateway"),
    )
    return next((reason for ok, reason in checks if not ok), None)
