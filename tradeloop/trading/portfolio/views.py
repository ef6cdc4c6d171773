"""Pure conversions between the exact ledger and the float DTOs other stages read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType

from tradeloop.trading.models import (
    Constraints,
    FeatureVector,
    MarketType,
    PortfolioView,
    PositionSnapshot,
    TradeHistoryEntry,
    TxResult,
    UserRequest,
    constructor,
    instrument_ref,
)
from tradeloop.trading.portfolio.ledger import EXACT, ZERO, Fill, FillEffect, Ledger
from tradeloop.trading.utils import to_decimal

SNAPSHOT_GROUP = "market_snapshot"
_position = constructor(PositionSnapshot)
_view = constructor(PortfolioView)


def constraints_for(request: UserRequest) -> Constraints:
    cfg = request.trading_config
    return Constraints(
        max_positions=cfg.max_positions,
        max_leverage=cfg.max_leverage,
        max_notional_per_symbol=cfg.max_notional_per_symbol,
    )


def missing_price_reason(symbol: str) -> str:
    """Why an order for ``symbol`` cannot be priced: what the cycle's features lacked."""
    return (
        f"no current price for {symbol}: this cycle's features have no '{SNAPSHOT_GROUP}' vector"
        f" for it (meta.group_by_key '{SNAPSHOT_GROUP}' with a positive values.price); a custom"
        " features pipeline must produce one per symbol, or the strategy needs a market data source"
    )


def snapshot_prices(features: Sequence[FeatureVector]) -> Mapping[str, Decimal]:
    """Latest price per symbol from the cycle's market snapshot vectors (read-only).

    These are the only prices marks, guardrails and paper fills use: a vector with
    ``meta.group_by_key == "market_snapshot"`` and a positive ``values["price"]``, per symbol.

    A cycle asks several times (mark, guardrails, gateway, fills) with the same vectors, so the
    last answer is kept and reused while the vectors are the very same objects."""
    global _last_prices
    last = _last_prices
    if last is not None and _same_objects(last[0], features):
        return last[1]
    prices: dict[str, Decimal] = {}
    for fv in features:
        if (fv.meta or {}).get("group_by_key") != SNAPSHOT_GROUP:
            continue
        price = fv.values.get("price")
        if price is not None and price > 0:
            prices[fv.instrument.symbol] = to_decimal(price)
    answer = MappingProxyType(prices)
    _last_prices = (tuple(features), answer)
    return answer


_last_prices: tuple[tuple[FeatureVector, ...], Mapping[str, Decimal]] | None = None
"""The vectors of the latest ``snapshot_prices`` call (kept alive, so identities stay unique) and
its answer. FeatureVector is frozen, so the same objects always give the same prices."""


def _same_objects(kept: tuple[FeatureVector, ...], features: Sequence[FeatureVector]) -> bool:
    if len(kept) != len(features):
        return False
    for a, b in zip(kept, features, strict=True):
        if a is not b:
            return False
    return True


def ledger_to_view(
    ledger: Ledger,
    strategy_id: str,
    ts: int,
    constraints: Constraints | None,
    request: UserRequest,
) -> PortfolioView:
    """The float view of ``ledger``; one pass over the positions gives every total (exact sums,
    converted to float once), so a view costs the same whatever the number of positions."""
    exchange_id = request.exchange_config.exchange_id
    spot = ledger.market_type is MarketType.SPOT
    equity, unrealized, gross = ledger.cash, ZERO, ZERO
    positions: dict[str, PositionSnapshot] = {}
    for symbol, pos in ledger.positions.items():
        price = pos.price_for_value
        value = EXACT.multiply(pos.quantity, price)
        pnl = EXACT.subtract(value, pos.cost)
        notional = abs(value)
        equity = EXACT.add(equity, value if spot else pnl)
        unrealized = EXACT.add(unrealized, pnl)
        gross = EXACT.add(gross, notional)
        positions[symbol] = _position(
            instrument=instrument_ref(symbol, exchange_id),
            quantity=float(pos.quantity),
            avg_price=float(pos.avg_price),
            mark_price=float(price),
            unrealized_pnl=float(pnl),
            leverage=float(pos.leverage),
            entry_ts=pos.entry_ts,
            notional=float(notional),
            stop_loss=float(pos.stop_loss) if pos.stop_loss is not None else None,
            take_profit=float(pos.take_profit) if pos.take_profit is not None else None,
            entry=pos.entry,
        )
    if spot:
        power = max(ZERO, ledger.cash)
    else:
        capacity = EXACT.multiply(equity, to_decimal(request.trading_config.max_leverage))
        power = max(ZERO, EXACT.subtract(capacity, gross))
    return _view(
        strategy_id=strategy_id,
        ts=ts,
        account_balance=float(ledger.cash),
        positions=positions,
        total_value=float(equity),
        total_unrealized_pnl=float(unrealized),
        buying_power=float(power),
        constraints=constraints,
        realized_pnl=float(ledger.realized_pnl),
        fees_paid=float(ledger.fees_paid),
        initial_capital=float(ledger.initial_capital),
        gross_exposure=float(gross),
    )


def effects_to_entries(effect: FillEffect, tx: TxResult, fill: Fill) -> list[TradeHistoryEntry]:
    """History entries for one fill: a round trip for what it closed, an open for what it opened."""
    entries: list[TradeHistoryEntry] = []
    compose_id = tx.instruction_id.split(":", 1)[0]
    if effect.closed_qty > 0 and effect.closed_type is not None:
        entry_ts = effect.entry_ts
        entries.append(
            TradeHistoryEntry(
                trade_id=f"{tx.instruction_id}:close",
                compose_id=compose_id,
                instruction_id=tx.instruction_id,
                instrument=tx.instrument,
                side=tx.side,
                type=effect.closed_type,
                quantity=float(effect.closed_qty),
                entry_price=float(effect.entry_price) if effect.entry_price is not None else None,
                exit_price=float(fill.price),
                entry_ts=entry_ts,
                exit_ts=fill.ts,
                realized_pnl=float(effect.realized_pnl),
                holding_ms=fill.ts - entry_ts if entry_ts is not None else None,
                fee_cost=float(effect.close_fee),
                round_trip_fees=float(effect.round_trip_fees),
            )
        )
    if effect.opened_qty > 0 and effect.opened_type is not None:
        entries.append(
            TradeHistoryEntry(
                trade_id=f"{tx.instruction_id}:open",
                compose_id=compose_id,
                instruction_id=tx.instruction_id,
                instrument=tx.instrument,
                side=tx.side,
                type=effect.opened_type,
                quantity=float(effect.opened_qty),
                entry_price=float(fill.price),
                entry_ts=fill.ts,
                fee_cost=float(effect.open_fee),
            )
        )
    return entries
