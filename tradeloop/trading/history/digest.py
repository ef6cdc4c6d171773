"""The trade digest: per-instrument round-trip stats plus portfolio Sharpe, Sortino and drawdown.

The state is a small aggregate updated once per cycle (``DigestAccumulator.fold``, in place; its
frozen form is ``DigestState``), so a digest is O(1) per cycle and can be rebuilt from stored cycles
by folding them again in order.

Returns are the per-cycle simple returns of equity, the first one measured from the initial capital,
as the backtest statistics (``tradeloop.backtest.stats``) define them, so both agree on one run.
Headline figures cover the whole history: Sharpe is mean / sample stdev of the returns, Sortino is
mean / ``sqrt(mean(min(r, 0)^2))``, both annualized by sqrt(seconds per year / decide_interval) and
None until there are two returns (Sharpe: with non-zero spread; Sortino: with a loss).
``sharpe_ratio_recent`` is the Sharpe ratio of the returns between the last ``recent_window`` + 1
equity points only (``TradingConfig.sharpe_window``, default 500). The state keeps exact running
sums of the returns (``ReturnSums``: integers), so every figure costs O(1) per cycle and per read,
does not drift over long runs and sees flat equity as exactly zero spread. Max drawdown: largest
peak-to-trough fall of equity in percent over the whole run.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from tradeloop.trading.constants import SECONDS_PER_YEAR
from tradeloop.trading.history.interfaces import BaseDigestBuilder
from tradeloop.trading.models import (
    CycleResult,
    TradeDigest,
    TradeDigestEntry,
    TradeHistoryEntry,
    constructor,
)


@dataclass(frozen=True, slots=True)
class InstrumentStats:
    trade_count: int = 0
    wins: int = 0
    realized_pnl: float = 0.0
    holding_ms_total: int = 0
    last_trade_ts: int | None = None

    def fold(self, trade: TradeHistoryEntry) -> InstrumentStats:
        ts = trade.exit_ts if trade.exit_ts is not None else trade.entry_ts
        last = max(filter(None, (self.last_trade_ts, ts)), default=None)
        if trade.exit_price is None:
            return replace(self, last_trade_ts=last)
        pnl = trade.realized_pnl or 0.0
        return InstrumentStats(
            trade_count=self.trade_count + 1,
            wins=self.wins + (1 if trade.net_pnl > 0 else 0),
            realized_pnl=self.realized_pnl + pnl,
            holding_ms_total=self.holding_ms_total + (trade.holding_ms or 0),
            last_trade_ts=last,
        )

    def entry(self) -> TradeDigestEntry:
        n = self.trade_count
        return TradeDigestEntry(
            trade_count=n,
            realized_pnl=self.realized_pnl,
            win_rate=self.wins / n if n else None,
            avg_holding_ms=self.holding_ms_total // n if n else None,
            last_trade_ts=self.last_trade_ts,
        )


_SCALE_BITS = 53
"""A return ``b / a - 1`` is a multiple of 2**-53 (the subtraction is exact for quotients in
[0.5, 2], and rounds to a multiple of at least 2**-53 outside), so ``r * 2**53`` is an exact int."""


def _scaled_return(before: float, after: float) -> int | None:
    """The simple return ``after / before - 1`` as the exact int ``r * 2**53`` (None: no return)."""
    if before <= 0:
        return None
    numerator, denominator = (after / before - 1).as_integer_ratio()  # a power-of-two denominator
    shift = _SCALE_BITS + 1 - denominator.bit_length()
    if shift < 0:
        raise ValueError(f"{after / before - 1!r} is not a multiple of 2**-{_SCALE_BITS}")
    return numerator << shift


_CHUNK_IN_PYTHON = 100
"""Shorter arrays are summed as Python ints: cheaper than a dozen numpy calls."""
_BULK_FROM = 64
"""Shorter quiet stretches are folded point by point: cheaper than the numpy calls of a bulk fold."""
_LIMB_BITS, _CHUNK = 21, 1 << 19
"""Squares summed exactly in uint64: |v| < 2**63 splits into three 21-bit limbs, whose pairwise
products (< 3 * 2**42 per element and weight) summed over 2**19 elements stay below 2**64."""


def _sum_of_squares(values: np.ndarray) -> int:
    """The exact sum of the squares of int64 ``values``, as a Python int."""
    if len(values) < _CHUNK_IN_PYTHON:
        return sum(v * v for v in values.tolist())
    a = np.abs(values).astype(np.uint64)
    mask = np.uint64((1 << _LIMB_BITS) - 1)
    limbs = (a & mask, (a >> np.uint64(_LIMB_BITS)) & mask, a >> np.uint64(2 * _LIMB_BITS))
    total = 0
    for start in range(0, len(a), _CHUNK):
        x0, x1, x2 = (limb[start : start + _CHUNK] for limb in limbs)
        weights = (x0 * x0, 2 * x0 * x1, 2 * x0 * x2 + x1 * x1, 2 * x1 * x2, x2 * x2)
        for k, terms in enumerate(weights):
            total += int(terms.sum(dtype=np.uint64)) << (_LIMB_BITS * k)
    return total


@dataclass(frozen=True, slots=True)
class ReturnSums:
    """Exact sums of returns r (as ``r * 2**53``), of their squares (``r**2 * 2**106``) and of the
    squares of the losses alone (``min(r, 0)**2 * 2**106``, for the downside deviation)."""

    count: int = 0
    total: int = 0
    squares: int = 0
    downside: int = 0

    @classmethod
    def of(cls, equity: Iterable[float]) -> ReturnSums:
        points = list(equity)
        scaled = [_scaled_return(a, b) for a, b in zip(points, points[1:], strict=False)]
        kept = [r for r in scaled if r is not None]
        return cls(
            len(kept), sum(kept), sum(r * r for r in kept), sum(r * r for r in kept if r < 0)
        )


def _annualizer(interval_s: int) -> float:
    return math.sqrt(SECONDS_PER_YEAR / interval_s)


def _sharpe(n: int, total: int, squares: int, annualize: float) -> float | None:
    """Mean / stdev of the window's returns from their exact sums, times ``annualize``."""
    if n < 2:
        return None
    spread = n * squares - total * total  # n (n - 1) var, scaled by 2**106
    var = spread / ((n * (n - 1)) << (2 * _SCALE_BITS))
    if var <= 0:
        return None
    mean = total / (n << _SCALE_BITS)
    return mean / math.sqrt(var) * annualize


def _sortino(n: int, total: int, downside: int, annualize: float) -> float | None:
    """Mean / downside deviation ``sqrt(mean(min(r, 0)^2))`` from the exact sums, annualized."""
    if n < 2 or downside <= 0:
        return None
    return total / math.sqrt(n * downside) * annualize  # (total / n) / sqrt(downside / n)


@dataclass(frozen=True)
class DigestState:
    interval_s: int
    window: int
    initial_capital: float
    by_instrument: dict[str, InstrumentStats] = field(default_factory=dict)
    equity: deque[float] = field(default_factory=deque)
    peak: float | None = None
    max_drawdown_pct: float = 0.0
    last_equity: float | None = None
    fees_paid: float = 0.0
    realized_pnl: float = 0.0
    llm_cost_usd: float = 0.0
    ts: int = 0
    returns: ReturnSums | None = None
    """Sums of the returns in ``equity``; None means not computed yet (built from ``equity``)."""
    history: ReturnSums = ReturnSums()
    """Sums of every return since the start, the first one from ``initial_capital``."""

    def return_sums(self) -> ReturnSums:
        return self.returns if self.returns is not None else ReturnSums.of(self.equity)


def fold_cycle(state: DigestState, result: CycleResult) -> DigestState:
    """The digest state after one more cycle. Pure: the input state is not modified."""
    accumulator = DigestAccumulator(state)
    accumulator.fold(result)
    return accumulator.state()


class DigestAccumulator:
    """A digest state folded in place, one cycle at a time: what a running builder keeps.

    ``fold`` does exactly the arithmetic of the frozen fold without copying the equity window and
    the state every cycle; ``state()`` gives the equal frozen ``DigestState`` (cached until the
    next fold), so a rebuilt digest and a running one compare equal."""

    __slots__ = (
        "_annualize",
        "_by_instrument",
        "_count",
        "_cost",
        "_down",
        "_entries",
        "_equity",
        "_fees",
        "_frozen",
        "_h_count",
        "_h_squares",
        "_h_total",
        "_initial",
        "_interval",
        "_last",
        "_max_drawdown",
        "_peak",
        "_realized",
        "_recent",
        "_squares",
        "_total",
        "_ts",
        "_window",
    )

    def __init__(self, state: DigestState) -> None:
        returns = state.return_sums()
        self._interval, self._window, self._initial = (
            state.interval_s,
            state.window,
            state.initial_capital,
        )
        self._by_instrument = dict(state.by_instrument)
        self._entries = _entries(self._by_instrument)
        self._equity = deque(state.equity, maxlen=state.window + 1)
        points = list(self._equity)
        self._recent: deque[int | None] = deque(
            (_scaled_return(a, b) for a, b in zip(points, points[1:], strict=False)),
            maxlen=state.window,
        )
        """The scaled returns between the window's points (so the one leaving is not recomputed)."""
        self._peak, self._max_drawdown = state.peak, state.max_drawdown_pct
        self._last, self._fees, self._realized = (
            state.last_equity,
            state.fees_paid,
            state.realized_pnl,
        )
        self._cost, self._ts = state.llm_cost_usd, state.ts
        self._count, self._total, self._squares = returns.count, returns.total, returns.squares
        history = state.history
        self._h_count, self._h_total = history.count, history.total
        self._h_squares, self._down = history.squares, history.downside
        self._frozen: DigestState | None = state
        self._annualize = _annualizer(state.interval_s)

    @property
    def peak(self) -> float | None:
        return self._peak

    def fold(self, result: CycleResult) -> None:
        if result.trades:
            stats = self._by_instrument
            for trade in result.trades:
                symbol = trade.instrument.symbol
                stats[symbol] = stats.get(symbol, InstrumentStats()).fold(trade)
            self._entries = _entries(stats)
        self._fold_equity(result.strategy_summary.equity)
        self._fees = result.strategy_summary.fees_paid
        self._realized = result.strategy_summary.realized_pnl
        self._cost += (result.usage.cost_usd or 0.0) if result.usage else 0.0  # unknown: not summed
        self._ts = result.ts
        self._frozen = None

    def fold_quiet(
        self, ts: Sequence[int], equity: Sequence[float], fees_paid: float, realized_pnl: float
    ) -> None:
        """Fold cycles that traded nothing and cost nothing, one per (``ts``, ``equity``) pair, with
        the arithmetic of ``fold`` but no ``CycleResult`` (a backtest's fast-forwarded stretch)."""
        if not ts:
            return
        short = len(equity) < _BULK_FROM
        if short or not self._fold_equity_path(np.asarray(equity, dtype=np.float64)):
            for value in equity:
                self._fold_equity(value)
        self._fees, self._realized, self._ts = fees_paid, realized_pnl, ts[-1]
        self._frozen = None

    def _fold_equity_path(self, values: np.ndarray) -> bool:
        """``_fold_equity`` for each of ``values`` in numpy, to the same bits: the returns are the
        same IEEE quotients turned into the same exact ints, summed into the history once and into
        the recent window until they leave it; peak and drawdown are the same running max and
        quotients. False (nothing changed) when a scaled return would not fit an int64: the caller
        then folds one by one."""
        m, last = len(values), self._last
        before = np.concatenate(([self._initial if last is None else last], values[:-1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = (values / before - 1) * float(1 << _SCALE_BITS)
        valid = before > 0
        if not bool(np.all(np.abs(scaled[valid]) < 2.0**62)):
            return False
        exact = np.where(valid, scaled, 0.0)
        if not bool(np.all(exact == np.floor(exact))):
            raise ValueError(f"an equity return is not a multiple of 2**-{_SCALE_BITS}")
        ints = exact.astype(np.int64)
        kept = ints[valid]
        self._h_count += len(kept)
        self._h_total += sum(kept.tolist())
        self._h_squares += _sum_of_squares(kept)
        self._down += _sum_of_squares(kept[kept < 0])
        self._fold_recent(ints, valid, 0 if self._equity else 1)
        start = values if self._peak is None else np.concatenate(([self._peak], values))
        peaks = np.maximum.accumulate(start)[-m:]
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdowns = np.where(peaks > 0, (peaks - values) / peaks * 100, 0.0)
        self._peak = float(peaks[-1])
        self._max_drawdown = max(self._max_drawdown, float(drawdowns.max()))
        self._equity.extend(values.tolist())
        self._last = float(values[-1])
        return True

    def _fold_recent(self, ints: np.ndarray, valid: np.ndarray, first: int) -> None:
        """The returns from ``first`` on enter the recent window; as many old ones leave."""
        recent = self._recent
        items = [
            v if ok else None
            for v, ok in zip(ints[first:].tolist(), valid[first:].tolist(), strict=True)
        ]
        leaving = len(recent) + len(items) - (recent.maxlen or 0)
        gone = [*recent, *items[: max(0, leaving - len(recent))]][: max(0, leaving)]
        for part, sign in ((items, 1), (gone, -1)):
            numbers = np.array([v for v in part if v is not None], dtype=np.int64)
            self._count += sign * len(numbers)
            self._total += sign * sum(numbers.tolist())
            self._squares += sign * _sum_of_squares(numbers)
        recent.extend(items)

    def _fold_equity(self, equity: float) -> None:
        last = self._last
        scaled = _scaled_return(self._initial if last is None else last, equity)
        if scaled is not None:
            square = scaled * scaled
            self._h_count += 1
            self._h_total += scaled
            self._h_squares += square
            if scaled < 0:
                self._down += square
        window = self._equity
        if window:  # its last point is ``last``: the same return as the history's
            recent = self._recent
            if len(recent) == recent.maxlen:  # the oldest point leaves, and with it its return
                self._add(recent[0], -1)
            recent.append(scaled)
            self._add(scaled, 1)
        window.append(equity)
        peak = self._peak
        if peak is None or equity > peak:
            peak = self._peak = equity
        drawdown = (peak - equity) / peak * 100 if peak > 0 else 0.0
        if drawdown > self._max_drawdown:
            self._max_drawdown = drawdown
        self._last = equity

    def _add(self, scaled: int | None, sign: int) -> None:
        if scaled is not None:
            self._count += sign
            self._total += sign * scaled
            self._squares += sign * scaled * scaled

    def state(self) -> DigestState:
        if self._frozen is None:
            self._frozen = DigestState(
                interval_s=self._interval,
                window=self._window,
                initial_capital=self._initial,
                by_instrument=dict(self._by_instrument),
                equity=deque(self._equity, maxlen=self._window + 1),
                peak=self._peak,
                max_drawdown_pct=self._max_drawdown,
                last_equity=self._last,
                fees_paid=self._fees,
                realized_pnl=self._realized,
                llm_cost_usd=self._cost,
                ts=self._ts,
                returns=ReturnSums(self._count, self._total, self._squares),
                history=ReturnSums(self._h_count, self._h_total, self._h_squares, self._down),
            )
        return self._frozen

    def digest(self, ts: int | None = None) -> TradeDigest:
        """The digest as of the latest fold (``ts``: another time to stamp it with)."""
        last = self._last
        return _digest(
            ts=ts if ts is not None else self._ts,
            by_instrument=self._entries,
            sharpe_ratio=_sharpe(self._h_count, self._h_total, self._h_squares, self._annualize),
            sortino_ratio=_sortino(self._h_count, self._h_total, self._down, self._annualize),
            sharpe_ratio_recent=_sharpe(self._count, self._total, self._squares, self._annualize),
            max_drawdown_pct=self._max_drawdown,
            total_return_pct=(last / self._initial - 1) * 100 if last is not None else None,
            fees_paid=self._fees,
            realized_pnl=self._realized,
            equity=last,
            llm_cost_usd=self._cost,
            recent_window=self._window,
        )


_digest = constructor(TradeDigest)


def _entries(stats: dict[str, InstrumentStats]) -> dict[str, TradeDigestEntry]:
    return {symbol: st.entry() for symbol, st in sorted(stats.items())}


def sharpe_ratio(equity: list[float], interval_s: int) -> float | None:
    returns = [b / a - 1 for a, b in zip(equity, equity[1:], strict=False) if a > 0]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(SECONDS_PER_YEAR / interval_s)


def to_digest(state: DigestState, ts: int | None = None) -> TradeDigest:
    return DigestAccumulator(state).digest(ts)


class RollingDigestBuilder(BaseDigestBuilder):
    """Folds each cycle into a ``DigestAccumulator``; the digest of the latest fold is kept, and
    is the one the next cycle's context gets (spec step 9)."""

    def __init__(self, *, interval_s: int, window: int, initial_capital: float) -> None:
        self._accumulator = DigestAccumulator(
            DigestState(interval_s=interval_s, window=window, initial_capital=initial_capital)
        )
        self._digest: TradeDigest | None = None

    @property
    def state(self) -> DigestState:
        """The frozen state after every cycle folded so far."""
        return self._accumulator.state()

    @state.setter
    def state(self, state: DigestState) -> None:
        self._accumulator = DigestAccumulator(state)
        self._digest = None

    @property
    def peak_equity(self) -> float | None:
        return self._accumulator.peak

    async def update(self, result: CycleResult) -> TradeDigest:
        self._accumulator.fold(result)
        self._digest = self._accumulator.digest()
        return self._digest

    def fold_quiet(
        self, ts: Sequence[int], equity: Sequence[float], fees_paid: float, realized_pnl: float
    ) -> None:
        """Fold quiet cycles in bulk (see ``DigestAccumulator.fold_quiet``)."""
        self._accumulator.fold_quiet(ts, equity, fees_paid, realized_pnl)
        self._digest = None

    async def build(self, ts: int | None = None) -> TradeDigest:
        """The digest after the latest cycle; ``ts`` re-stamps it (default: that cycle's time)."""
        if self._digest is None:
            self._digest = self._accumulator.digest()
        digest = self._digest
        if ts is None or ts == digest.ts:
            return digest
        return digest.model_copy(update={"ts": ts})
