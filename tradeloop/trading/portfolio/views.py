"""Pure conversions between the exact ledger and the float DTOs other stages read."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.trading.models import (
    Constraints,
    FeatureVector,
    InstrumentRef,
    MarketType,
    PortfolioView,
    PositionSnapshot,
    TradeHistoryEntry,
    TxResult,
    UserRequest,
)
from tradeloop.trading.portfolio.ledger import EXACT, ZERO, Fill, FillEffect, Ledger
from tradeloop.trading.utils import to_decimal

SNAPSHOT_GROUP = "market_snapshot"


def constraints_for(request: UserRequest) -> Constraints:
    cfg = request.trading_config
    return Constraints(
        max_positions=cfg.max_positions,
        max_leverage=cfg.max_leverage,
        max_notional_per_symbol=cfg.max_notional_per_symbol,
    )


def snapshot_prices(features: list[FeatureVector]) -> dict[str, Decimal]:
    """Latest price per symbol from the cycle's market snapshot vectors."""
    prices: dict[str, Decimal] = {}
    for fv in features:
        if (fv.meta or {}).get("group_by_key") != SNAPSHOT_GROUP:
            continue
        price = fv.values.get("price")
        if price is not None and price > 0:
            prices[fv.instrument.symbol] = to_decimal(price)
    return prices


def buying_power(ledger: Ledger, max_leverage: float) -> Decimal:
    """Spot: cash. Derivatives: equity x leverage minus gross exposure."""
    if ledger.market_type is MarketType.SPOT:
        return max(ZERO, ledger.cash)
    capacity = EXACT.multiply(ledger.equity, to_decimal(max_leverage))
    return max(ZERO, EXACT.subtract(capacity, ledger.gross_exposure))


def ledger_to_view(
    ledger: Ledger,
    strategy_id: str,
    ts: int,
    constraints: Constraints | None,
    request: UserRequest,
) -> PortfolioView:
    positions = {
        symbol: PositionSnapshot(
            instrument=InstrumentRef(
                symbol=symbol, exchange_id=request.exchange_config.exchange_id
            ),
            quantity=float(pos.quantity),
            avg_price=float(pos.avg_price),
            mark_price=float(pos.price_for_value),
            unrealized_pnl=float(pos.unrealized_pnl),
            leverage=float(pos.leverage),
            entry_ts=pos.entry_ts,
            notional=float(pos.notional),
            stop_loss=float(pos.stop_loss) if pos.stop_loss is not None else None,
            take_profit=float(pos.take_profit) if pos.take_profit is not None else None,
        )
        for symbol, pos in ledger.positions.items()
    }
    return PortfolioView(
        strategy_id=strategy_id,
        ts=ts,
        account_balance=float(ledger.cash),
        positions=positions,
        total_value=float(ledger.equity),
        total_unrealized_pnl=float(ledger.unrealized_pnl),
        buying_power=float(buying_power(ledger, request.trading_config.max_leverage)),
        constraints=constraints,
        realized_pnl=float(ledger.realized_pnl),
        fees_paid=float(ledger.fees_paid),
        initial_capital=float(ledger.initial_capital),
        gross_exposure=float(ledger.gross_exposure),
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
                fee_cost=float(effect.close_fees),
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
