"""The dashboard's chart series from stored cycles: equity with its drawdown, buy-and-hold of the
strategy's symbols (the backtest baseline's definition), and each symbol's price at every cycle.

Pure functions over ``(ts, equity, features JSON)`` rows (``StrategyService.chart_rows``). Prices
are the ones the cycle saw: the market snapshot's ``price``, else the close of the finest candle
interval. Drawdown is measured from the running peak of equity, as the digest's max drawdown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tradeloop.trading.utils import parse_interval_seconds

ChartRow = tuple[int, float, str]
"""(cycle ts in ms, equity after the cycle, the cycle's features as stored JSON)."""

MAX_POINTS = 2000
"""Longer series are thinned evenly (the last point always kept): a chart pane is narrower."""
UNKNOWN_WIDTH = 1 << 30
"""A candle vector without a readable interval ranks after every real one."""


def drawdown_pct(equity: Sequence[float]) -> list[float]:
    """Percent below the running peak at every point (0 at a new high)."""
    out: list[float] = []
    peak: float | None = None
    for value in equity:
        peak = value if peak is None or value > peak else peak
        out.append((peak - value) / peak * 100 if peak > 0 else 0.0)
    return out


def cycle_prices(features_json: str) -> dict[str, float]:
    """Each symbol's price as one cycle saw it: snapshot price, else the finest candle's close."""
    prices: dict[str, float] = {}
    closes: dict[str, tuple[int, float]] = {}
    for vector in json.loads(features_json):
        symbol = vector.get("instrument", {}).get("symbol")
        values: dict[str, Any] = vector.get("values") or {}
        meta: dict[str, Any] = vector.get("meta") or {}
        if not symbol:
            continue
        if meta.get("group_by_key") == "market_snapshot" and values.get("price"):
            prices[symbol] = float(values["price"])
        elif values.get("close"):
            width = _interval_seconds(str(meta.get("interval", "")))
            if symbol not in closes or width < closes[symbol][0]:
                closes[symbol] = (width, float(values["close"]))
    return {**{s: close for s, (_, close) in closes.items()}, **prices}


def buy_and_hold(
    ts: Sequence[int],
    prices: dict[str, list[tuple[int, float]]],
    initial_capital: float,
    *,
    fee_bps: float,
    slippage_bps: float,
) -> list[tuple[int, float]]:
    """Buy-and-hold as every backtest's baseline defines it (``backtest.baselines.hold_curve``:
    equal weight bought at the first price with the fee and slippage, marked at each price, sold
    at the last with them again), over the cycles at which every symbol has a price."""
    # here: the baselines import the replay source and pandas (1.5 s), kept out of server start-up
    from tradeloop.backtest.baselines import hold_curve

    if not prices:
        return []
    at = {symbol: dict(points) for symbol, points in prices.items()}
    times = [t for t in ts if all(t in points for points in at.values())]
    paths = {symbol: [points[t] for t in times] for symbol, points in at.items()}
    held = hold_curve(
        times, paths, capital=initial_capital, fee_bps=fee_bps, slippage_bps=slippage_bps
    )
    return [(point.ts, point.equity) for point in held.curve]


def thin[T](points: Sequence[T], limit: int = MAX_POINTS) -> list[T]:
    """At most ``limit`` points evenly spread over ``points``, the last one included."""
    if len(points) <= limit:
        return list(points)
    step = len(points) / (limit - 1)
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return [*picked, points[-1]]


def _interval_seconds(interval: str) -> int:
    try:
        return parse_interval_seconds(interval)
    except ValueError:
        return UNKNOWN_WIDTH
