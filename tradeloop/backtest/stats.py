"""Backtest statistics: one pure function from (round trips, equity curve) to ``BacktestStats``.

Returns are simple per-point returns of the equity curve (one point per cycle). Sharpe and Sortino
are annualized by ``sqrt(periods per year)``, where a period is the median spacing of the curve, with
a zero risk-free rate; Sortino divides by the downside deviation ``sqrt(mean(min(r, 0)^2))`` over
all returns. A trade is one round trip (a history entry with an exit price); it wins when its
realized PnL net of its round-trip fees is positive. Profit factor is gross net winnings over gross
net losses, None when nothing was lost; the payoff ratio is the average net win over the average
net loss. Exposure is the share of curve points holding a position. Calmar is the annual return
over the max drawdown. Turnover is the notional of every entry and exit over the initial capital.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from tradeloop.backtest.models import BacktestStats
from tradeloop.trading.constants import SECONDS_PER_YEAR
from tradeloop.trading.models import CycleResult, TradeHistoryEntry


class EquityPoint(NamedTuple):
    """Portfolio state after one cycle. A tuple of numbers: a run keeps one per cycle, and the
    garbage collector stops tracking tuples that hold only numbers."""

    ts: int
    equity: float
    gross_exposure: float = 0.0
    """Notional of all open positions, in the quote currency."""
    fees_paid: float = 0.0
    """Cumulative fees up to and including this cycle."""


def equity_point(result: CycleResult) -> EquityPoint:
    """The curve point of one recorded cycle (live or backtest)."""
    summary = result.strategy_summary
    exposure = result.portfolio.gross_exposure if result.portfolio is not None else 0.0
    return EquityPoint(result.ts, summary.equity, exposure, summary.fees_paid)


def compute_stats(
    trades: Sequence[TradeHistoryEntry],
    equity_curve: Sequence[EquityPoint],
    *,
    initial_capital: float | None = None,
) -> BacktestStats:
    """Statistics of one run. Pure; ``initial_capital`` defaults to the first point's equity."""
    ts = np.fromiter((p.ts for p in equity_curve), dtype=np.int64, count=len(equity_curve))
    equity = np.fromiter((p.equity for p in equity_curve), dtype=np.float64, count=len(ts))
    initial = initial_capital if initial_capital is not None else _first(equity)
    final = float(equity[-1]) if len(equity) else initial
    returns = _returns(initial, equity)
    periods = _periods_per_year(ts)
    drawdown_pct, drawdown_ms = _max_drawdown(ts, equity, initial)
    in_market = sum(1 for p in equity_curve if p.gross_exposure > 0)
    annual = _annual_return(initial, final, ts)
    return BacktestStats(
        start_ts=int(ts[0]) if len(ts) else None,
        end_ts=int(ts[-1]) if len(ts) else None,
        points=len(ts),
        initial_equity=initial,
        final_equity=final,
        total_return_pct=(final / initial - 1) * 100 if initial else 0.0,
        annual_return_pct=annual,
        sharpe_ratio=_sharpe(returns, periods),
        sortino_ratio=_sortino(returns, periods),
        max_drawdown_pct=drawdown_pct,
        max_drawdown_duration_ms=drawdown_ms,
        fees_paid=equity_curve[-1].fees_paid if equity_curve else 0.0,
        exposure_pct=in_market / len(ts) * 100 if len(ts) else 0.0,
        calmar_ratio=annual / drawdown_pct if annual is not None and drawdown_pct > 0 else None,
        turnover=_turnover(trades, initial),
        **_trade_stats([t for t in trades if t.exit_price is not None]),  # type: ignore[arg-type]
    )


def _first(equity: np.ndarray) -> float:
    return float(equity[0]) if len(equity) else 0.0


def _returns(initial: float, equity: np.ndarray) -> np.ndarray:
    """Per-point simple returns, the first one measured from the initial capital."""
    if not len(equity) or initial <= 0:
        return np.empty(0)
    levels = np.concatenate(([initial], equity))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = levels[1:] / levels[:-1] - 1
    return returns[np.isfinite(returns)]


def _periods_per_year(ts: np.ndarray) -> float | None:
    if len(ts) < 2:
        return None
    step_ms = float(np.median(np.diff(ts)))
    return SECONDS_PER_YEAR * 1000 / step_ms if step_ms > 0 else None


def _sharpe(returns: np.ndarray, periods: float | None) -> float | None:
    if periods is None or len(returns) < 2:
        return None
    std = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / std * math.sqrt(periods) if std > 0 else None


def _sortino(returns: np.ndarray, periods: float | None) -> float | None:
    if periods is None or len(returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return float(np.mean(returns)) / downside * math.sqrt(periods) if downside > 0 else None


_LOG_FLOAT_MAX = math.log(sys.float_info.max / 1000)  # room for the "- 1" and "* 100" after


def _annual_return(initial: float, final: float, ts: np.ndarray) -> float | None:
    if len(ts) < 2 or initial <= 0 or final <= 0 or ts[-1] <= ts[0]:
        return None
    years = float(ts[-1] - ts[0]) / 1000 / SECONDS_PER_YEAR
    if math.log(final / initial) / years > _LOG_FLOAT_MAX:
        return None  # a gain over too short a span: its yearly rate is beyond any number
    return ((final / initial) ** (1 / years) - 1) * 100


def _max_drawdown(ts: np.ndarray, equity: np.ndarray, initial: float) -> tuple[float, int]:
    """Largest peak-to-trough fall in percent, and the longest time spent below a peak."""
    if not len(equity):
        return 0.0, 0
    peaks = np.maximum.accumulate(np.maximum(equity, initial))
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdowns = np.where(peaks > 0, (peaks - equity) / peaks, 0.0)
    at_peak = equity >= peaks
    peak_ts = np.maximum.accumulate(np.where(at_peak, ts, ts[0]))
    return float(drawdowns.max()) * 100, int((ts - peak_ts).max())


def _trade_stats(closed: list[TradeHistoryEntry]) -> dict[str, float | int | None]:
    if not closed:
        return {
            "trades": 0,
            "win_rate_pct": None,
            "profit_factor": None,
            "avg_trade_pct": None,
            "best_trade_pct": None,
            "worst_trade_pct": None,
            "avg_holding_ms": None,
            "payoff_ratio": None,
        }
    net = [t.net_pnl for t in closed]
    pct = [_trade_pct(t, n) for t, n in zip(closed, net, strict=True)]
    won = sum(n for n in net if n > 0)
    lost = -sum(n for n in net if n < 0)
    return {
        "trades": len(closed),
        "win_rate_pct": sum(1 for n in net if n > 0) / len(closed) * 100,
        "profit_factor": won / lost if lost > 0 else None,
        "avg_trade_pct": sum(pct) / len(pct),
        "best_trade_pct": max(pct),
        "worst_trade_pct": min(pct),
        "avg_holding_ms": sum(t.holding_ms or 0 for t in closed) // len(closed),
        "payoff_ratio": _payoff([n for n in net if n > 0], [n for n in net if n < 0]),
    }


def _payoff(wins: list[float], losses: list[float]) -> float | None:
    if not wins or not losses:
        return None
    return (sum(wins) / len(wins)) / (-sum(losses) / len(losses))


def _turnover(trades: Sequence[TradeHistoryEntry], initial: float) -> float | None:
    """Each history entry is one fill: an entry at ``entry_price`` or an exit at ``exit_price``."""
    if initial <= 0:
        return None
    notional = sum(abs(t.quantity) * (t.exit_price or t.entry_price or 0.0) for t in trades)
    return notional / initial


def _trade_pct(trade: TradeHistoryEntry, net: float) -> float:
    """Net PnL of a round trip as a percent of its entry notional."""
    entry = abs(trade.quantity * (trade.entry_price or 0.0))
    return net / entry * 100 if entry > 0 else 0.0
