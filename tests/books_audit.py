"""A spot strategy's stored books against two replays of its stored fills: the ledger's own
``apply_fill`` (every stored after-cycle ledger, ``stored_ledger_mismatches``) and an independent
one written from the definitions of spot accounting, in exact Decimal: buying spends
``quantity x price``, selling receives it, every fee is paid from cash, and the quantity held is
the signed sum of the fills."""

from __future__ import annotations

import decimal
from decimal import Decimal

from tests.store_backends import stored_ledger_mismatches
from tradeloop.store.backend import Store
from tradeloop.trading.models import MarketType, TradeSide, UserRequest

EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])
"""Sums and products of the stored values need far fewer digits: an inexact result is a bug."""


async def books_problems(store: Store, strategy_id: str, request: UserRequest) -> list[str]:
    """What does not reconcile (empty: the books are exact)."""
    assert request.exchange_config.market_type is MarketType.SPOT
    problems = []
    bad = await stored_ledger_mismatches(store, strategy_id, request)
    if bad:
        problems.append(f"{bad} stored ledger(s) differ from the replay of the fills before them")
    latest = await store.cycles.latest_ledger(strategy_id)
    if latest is None:
        return [*problems, "no stored ledger"]
    ledger = latest[0]
    cash = Decimal(str(request.trading_config.initial_capital))
    held: dict[str, Decimal] = {}
    for _, _, tx in await store.cycles.fills(strategy_id):
        quantity, price = Decimal(repr(tx.filled_qty)), Decimal(repr(tx.avg_exec_price))
        sign = 1 if tx.side is TradeSide.BUY else -1
        notional = EXACT.multiply(quantity, price)
        fee = Decimal(repr(tx.fee_cost or 0.0))
        cash = EXACT.subtract(EXACT.subtract(cash, EXACT.multiply(sign, notional)), fee)
        symbol = tx.instrument.symbol
        held[symbol] = EXACT.add(held.get(symbol, Decimal(0)), EXACT.multiply(sign, quantity))
    if ledger.cash != cash:
        problems.append(f"cash {ledger.cash} stored, {cash} by the replay of the fills")
    stored = {s: p.quantity for s, p in ledger.positions.items() if p.quantity}
    if stored != {s: q for s, q in held.items() if q}:
        problems.append(f"positions {stored} stored, {held} by the replay of the fills")
    marks = {s: p.mark_price for s, p in ledger.positions.items()}
    if any(mark is None for mark in marks.values()):
        return [*problems, f"a position without a mark price: {marks}"]
    equity = cash
    for symbol, quantity in held.items():
        if quantity and symbol in marks:
            equity = EXACT.add(equity, EXACT.multiply(quantity, marks[symbol] or 0))
    if equity != ledger.equity:
        problems.append(f"equity {ledger.equity} stored, {equity} by the replay at its marks")
    return problems
