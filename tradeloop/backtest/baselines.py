"""Yardsticks for every backtest: buy-and-hold and the default rules strategy, on the same candles,
window, fees and slippage as the strategy, because most trading strategies (LLM ones included)
lose to simply holding the asset and a result means little without that comparison.

Buy-and-hold splits the initial capital equally across the strategy's symbols at the first cycle,
buying each at the price the strategy would have paid (the snapshot price moved by the slippage,
plus the fee on the notional), holds, and sells everything at the last cycle (slippage and fee
again). Per symbol with allocation ``a``, first price ``p0``, last ``p1``, fee ``f`` and slippage
``s`` (as fractions): ``qty = a / (p0 (1 + s) (1 + f))`` and the final value is
``qty p1 (1 - s) (1 - f)``, so its return is ``p1/p0 * (1-s)(1-f) / ((1+s)(1+f)) - 1``.
Points between are marked at the snapshot price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple

from tradeloop.backtest.models import BacktestStats
from tradeloop.backtest.stats import EquityPoint, compute_stats
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.models import InstrumentRef, TradeHistoryEntry, TradeSide, TradeType

BUY_AND_HOLD: Final = "buy_and_hold"
DEFAULT_RULES: Final = "default_rules"
DESCRIPTIONS = {
    BUY_AND_HOLD: "equal weight in every symbol bought at the first cycle, sold at the last",
    DEFAULT_RULES: "the default rules strategy (RSI 30/70, 20 % per position)",
}


class HoldResult(NamedTuple):
    curve: list[EquityPoint]
    trades: list[TradeHistoryEntry]


def hold_curve(
    times: Sequence[int],
    prices: Mapping[str, Sequence[float]],
    *,
    capital: float,
    fee_bps: float,
    slippage_bps: float = 0.0,
) -> HoldResult:
    """Buy-and-hold's equity at ``times`` from each symbol's price at those times. Pure."""
    if not times or not prices:
        return HoldResult([], [])
    fee, slip = fee_bps / 10_000, slippage_bps / 10_000
    allocation = capital / len(prices)
    first, last = times[0], times[-1]
    held: dict[str, tuple[float, float, float]] = {}  # symbol -> (qty, entry price, entry fee)
    trades: list[TradeHistoryEntry] = []
    for symbol, path in prices.items():
        entry = path[0] * (1 + slip)
        qty = allocation / (entry * (1 + fee))
        held[symbol] = (qty, entry, qty * entry * fee)
        trades.append(_fill(symbol, qty, first, entry, None, qty * entry * fee, None))
    entry_fees = sum(f for _, _, f in held.values())
    marked = [sum(q * prices[s][k] for s, (q, _, _) in held.items()) for k in range(len(times))]
    curve = [
        EquityPoint(ts, value, value, entry_fees)
        for ts, value in zip(times[:-1], marked[:-1], strict=True)
    ]
    final, exit_fees = 0.0, 0.0
    for symbol, (qty, entry, entry_fee) in held.items():
        exit_price = prices[symbol][-1] * (1 - slip)
        exit_fee = qty * exit_price * fee
        final += qty * exit_price - exit_fee
        exit_fees += exit_fee
        pnl = qty * (exit_price - entry)
        trades.append(
            _fill(
                symbol,
                qty,
                last,
                entry,
                exit_price,
                exit_fee,
                pnl,
                entry_ts=first,
                round_trip_fees=entry_fee + exit_fee,
            )
        )
    curve.append(EquityPoint(last, final, marked[-1], entry_fees + exit_fees))
    return HoldResult(curve, trades)


def _fill(
    symbol: str,
    qty: float,
    ts: int,
    entry: float,
    exit_price: float | None,
    fee: float,
    pnl: float | None,
    entry_ts: int | None = None,
    round_trip_fees: float | None = None,
) -> TradeHistoryEntry:
    closing = exit_price is not None
    return TradeHistoryEntry(
        trade_id=f"{BUY_AND_HOLD}:{symbol}:{'exit' if closing else 'entry'}",
        compose_id=BUY_AND_HOLD,
        instruction_id=f"{BUY_AND_HOLD}:{symbol}",
        instrument=InstrumentRef(symbol=symbol),
        side=TradeSide.SELL if closing else TradeSide.BUY,
        type=TradeType.LONG,
        quantity=qty,
        entry_price=entry,
        exit_price=exit_price,
        entry_ts=entry_ts if closing else ts,
        exit_ts=ts if closing else None,
        realized_pnl=pnl,
        holding_ms=ts - entry_ts if closing and entry_ts is not None else None,
        fee_cost=fee,
        round_trip_fees=round_trip_fees,
    )


async def snapshot_prices(
    files: Mapping[tuple[str, str], Path],
    symbols: Sequence[str],
    times: Sequence[int],
    *,
    skip_bad_rows: bool = False,
) -> dict[str, list[float]]:
    """Each symbol's snapshot price (what a cycle sees) at each time, from a fresh replay
    source (read as the run read it); a symbol without a closed candle at a time repeats its
    next known price."""
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource(dict(files), clock, skip_bad_rows=skip_bad_rows)
    paths: dict[str, list[float | None]] = {s: [] for s in symbols}
    for ts in times:
        clock.set(ts)
        snapshot = await source.get_market_snapshot(list(symbols))
        for symbol in symbols:
            quote = snapshot.get(symbol)
            paths[symbol].append(float(quote["price"]) if quote else None)
    return {symbol: _filled(path) for symbol, path in paths.items()}


def _filled(path: list[float | None]) -> list[float]:
    known = [p for p in path if p is not None]
    if not known:
        return []
    out: list[float] = []
    pending = 0
    for price in path:
        if price is None:
            pending += 1
            continue
        out.extend([price] * (pending + 1))
        pending = 0
    return out + [out[-1]] * pending


def buy_and_hold_stats(result: HoldResult, capital: float) -> BacktestStats:
    return compute_stats(result.trades, result.curve, initial_capital=capital)


def hold_return_pct(
    first: Mapping[str, float], last: Mapping[str, float], *, fee_bps: float, slippage_bps: float
) -> float | None:
    """Buy-and-hold's total return (in %) between two price sets, equal weight over the symbols
    priced in both, fees and slippage in and out (the formula in the module docstring)."""
    symbols = [s for s in first if s in last and first[s] > 0]
    if not symbols:
        return None
    fee, slip = fee_bps / 10_000, slippage_bps / 10_000
    friction = (1 - slip) * (1 - fee) / ((1 + slip) * (1 + fee))
    growth = sum(last[s] / first[s] for s in symbols) / len(symbols)
    return (growth * friction - 1) * 100
