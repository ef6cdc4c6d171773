"""The equity-curve chart: equity on top with trades marked, drawdown below, as PNG bytes.

matplotlib is imported on first use and only its object-oriented API is used (a ``Figure`` on an
Agg canvas), so drawing never touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from tradeloop.backtest.stats import EquityPoint
from tradeloop.trading.models import TradeHistoryEntry, TradeType

_OPEN_COLOR, _WIN_COLOR, _LOSS_COLOR = "#1f77b4", "#2ca02c", "#d62728"
MAX_MARKED_TRADES = 2000
"""Beyond this many round trips, markers only clutter; the newest ones are drawn."""


def equity_chart_png(
    equity_curve: Sequence[EquityPoint],
    trades: Sequence[TradeHistoryEntry] = (),
    *,
    title: str = "Equity",
    initial_capital: float | None = None,
    width_px: int = 1400,
    height_px: int = 800,
    benchmarks: Sequence[tuple[str, Sequence[EquityPoint]]] = (),
) -> bytes:
    """PNG of equity (with entries ▲/▼ and exits ● green or red by net PnL) over its drawdown;
    ``benchmarks`` (e.g. buy-and-hold) are drawn as labelled lines beside it."""
    # lazy: matplotlib costs about a second; only a chart needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    times = _times(np.array([p.ts for p in equity_curve], dtype=np.int64))
    equity = np.array([p.equity for p in equity_curve], dtype=np.float64)
    _plot_equity(top, times, equity, title, initial_capital)
    for index, (label, curve) in enumerate(benchmarks):
        _plot_benchmark(top, label, curve, index)
    _mark_trades(top, equity_curve, equity, trades)
    _plot_drawdown(bottom, times, equity, initial_capital)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plot_equity(
    axes: Any, times: np.ndarray, equity: np.ndarray, title: str, initial: float | None
) -> None:
    axes.plot(times, equity, color="#333333", linewidth=1.0, label="equity")
    if initial is not None:
        axes.axhline(initial, color="#999999", linewidth=0.8, linestyle="--", label="initial")
    axes.set_title(title)
    axes.set_ylabel("equity")
    axes.grid(True, alpha=0.3)
    if not len(equity):
        axes.text(0.5, 0.5, "no cycles yet", transform=axes.transAxes, ha="center")


BENCHMARK_COLORS = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def _plot_benchmark(axes: Any, label: str, curve: Sequence[EquityPoint], index: int) -> None:
    if not curve:
        return
    times = _times(np.array([p.ts for p in curve], dtype=np.int64))
    values = np.array([p.equity for p in curve], dtype=np.float64)
    color = BENCHMARK_COLORS[index % len(BENCHMARK_COLORS)]
    axes.plot(times, values, color=color, linewidth=1.0, linestyle="-", alpha=0.85, label=label)


def _mark_trades(
    axes: Any,
    curve: Sequence[EquityPoint],
    equity: np.ndarray,
    trades: Sequence[TradeHistoryEntry],
) -> None:
    if not len(equity):
        return
    ts = np.array([p.ts for p in curve], dtype=np.int64)
    closed = [t for t in trades if t.exit_ts is not None][-MAX_MARKED_TRADES:]
    entries = [t for t in trades if t.entry_ts is not None and t.exit_ts is None]
    entries = entries[-MAX_MARKED_TRADES:]
    longs = [t.entry_ts for t in entries if t.type is TradeType.LONG]
    shorts = [t.entry_ts for t in entries if t.type is TradeType.SHORT]
    wins = [t.exit_ts for t in closed if t.net_pnl > 0]
    losses = [t.exit_ts for t in closed if t.net_pnl <= 0]
    marks = (
        (longs, "^", _OPEN_COLOR, "open long"),
        (shorts, "v", _OPEN_COLOR, "open short"),
        (wins, "o", _WIN_COLOR, "winning exit"),
        (losses, "o", _LOSS_COLOR, "losing exit"),
    )
    for stamps, marker, color, label in marks:
        if stamps:
            x, y = _on_curve(stamps, ts, equity)
            axes.scatter(x, y, marker=marker, s=18, color=color, label=label, zorder=3)
    axes.legend(loc="upper left", fontsize="small")


def _on_curve(
    stamps: list[int | None], ts: np.ndarray, equity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each trade time placed on the equity point of the cycle that made it."""
    wanted = np.array(stamps, dtype=np.int64)
    index = np.clip(np.searchsorted(ts, wanted, side="right") - 1, 0, len(ts) - 1)
    return _times(ts[index]), equity[index]


def _plot_drawdown(axes: Any, times: np.ndarray, equity: np.ndarray, initial: float | None) -> None:
    if len(equity):
        start = equity[0] if initial is None else max(initial, equity[0])
        peaks = np.maximum.accumulate(np.maximum(equity, start))
        drawdown = np.where(peaks > 0, (equity / peaks - 1) * 100, 0.0)
        axes.fill_between(times, drawdown, 0.0, color=_LOSS_COLOR, alpha=0.35, linewidth=0)
        axes.plot(times, drawdown, color=_LOSS_COLOR, linewidth=0.6)
    axes.set_ylabel("drawdown %")
    axes.grid(True, alpha=0.3)


def _times(ts_ms: np.ndarray) -> np.ndarray:
    """UTC times matplotlib plots directly (naive datetime64 is read as UTC)."""
    return ts_ms.astype("datetime64[ms]")


def comparison_chart_png(
    curves: Sequence[tuple[str, Sequence[EquityPoint]]],
    *,
    title: str = "Comparison",
    initial_capital: float | None = None,
    width_px: int = 1400,
    height_px: int = 800,
) -> bytes:
    """PNG of several equity curves on one axis (buy-and-hold among them), drawdowns below."""
    # lazy: matplotlib costs about a second; only a chart needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    palette = ("#333333", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
    for index, (label, curve) in enumerate(curves):
        if not curve:
            continue
        times = _times(np.array([p.ts for p in curve], dtype=np.int64))
        equity = np.array([p.equity for p in curve], dtype=np.float64)
        hold = label == "buy and hold"
        color = "#ff7f0e" if hold else palette[index % len(palette)]
        style = "--" if hold else "-"
        top.plot(times, equity, color=color, linewidth=1.1, linestyle=style, label=label)
        start = equity[0] if initial_capital is None else max(initial_capital, equity[0])
        peaks = np.maximum.accumulate(np.maximum(equity, start))
        drawdown = np.where(peaks > 0, (equity / peaks - 1) * 100, 0.0)
        bottom.plot(times, drawdown, color=color, linewidth=0.7, linestyle=style)
    if initial_capital is not None:
        top.axhline(initial_capital, color="#999999", linewidth=0.8, linestyle=":")
    top.set_title(title)
    top.set_ylabel("equity")
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", fontsize="small")
    bottom.set_ylabel("drawdown %")
    bottom.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
