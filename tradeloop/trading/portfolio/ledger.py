"""Exact accounting: a frozen ledger in Decimal and the pure function that applies one fill.

Positions keep their signed entry *cost* (sum of quantity x price) rather than an average price, so
``equity == cash + sum(value terms) == initial + realized + unrealized - fees`` holds to the last
digit: the one division (cost removed by a partial close) moves the same amount out of cost and into
realized PnL, whatever it rounds to.

Spot: buying spends cash, a position's value term is ``quantity x mark``.
Perpetual (USDT-margined): only fees and realized PnL move cash; the value term is unrealized PnL.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from tradeloop.trading.constants import QUANTITY_DUST
from tradeloop.trading.errors import AccountingError
from tradeloop.trading.models import MarketType, PositionEntry, TradeSide, TradeType

EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
DUST = Decimal(repr(QUANTITY_DUST))
ZERO = Decimal(0)
SHARE_QUANTUM = Decimal("1e-18")
"""Pro-rata shares (cost or fees removed by a partial close) are rounded here, so every amount keeps
a bounded number of decimals and all sums stay exact within EXACT's 60 digits."""


def pro_rata(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return EXACT.divide(EXACT.multiply(amount, part), whole).quantize(SHARE_QUANTUM, context=EXACT)


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    symbol: str
    quantity: Decimal
    """Signed: + long, - short."""
    cost: Decimal
    """Signed entry notional: sum of quantity x entry price of what is still open."""
    entry_fees: Decimal
    """Fees paid to open what is still open (booked at once; kept to report round-trip fees)."""
    leverage: Decimal
    entry_ts: int
    mark_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    """Protective levels from the opening instruction (or moved by a plan's adjustment); the
    coordinator closes on a touch."""
    entry: PositionEntry | None = None
    """Why the position was opened (``position_notes.with_entries``); adds keep it."""

    @property
    def avg_price(self) -> Decimal:
        return EXACT.divide(self.cost, self.quantity)

    def at_mark(self, mark_price: Decimal) -> LedgerPosition:
        """This position marked at ``mark_price`` (once per cycle: the direct constructor call
        costs about two thirds of ``dataclasses.replace``)."""
        return LedgerPosition(
            symbol=self.symbol,
            quantity=self.quantity,
            cost=self.cost,
            entry_fees=self.entry_fees,
            leverage=self.leverage,
            entry_ts=self.entry_ts,
            mark_price=mark_price,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            entry=self.entry,
        )

    @property
    def price_for_value(self) -> Decimal:
        return self.mark_price if self.mark_price is not None else self.avg_price

    @property
    def unrealized_pnl(self) -> Decimal:
        return EXACT.subtract(EXACT.multiply(self.quantity, self.price_for_value), self.cost)

    @property
    def notional(self) -> Decimal:
        return abs(EXACT.multiply(self.quantity, self.price_for_value))


@dataclass(frozen=True, slots=True)
class Fill:
    """One executed quantity, as the ledger needs it."""

    symbol: str
    side: TradeSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    ts: int
    leverage: Decimal = Decimal(1)
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FillEffect:
    """What one fill did: a close part (round trip) and/or an open part."""

    symbol: str
    side: TradeSide
    closed_qty: Decimal = ZERO
    closed_type: TradeType | None = None
    entry_price: Decimal | None = None
    entry_ts: int | None = None
    realized_pnl: Decimal = ZERO
    close_fee: Decimal = ZERO
    """The part of this fill's fee that paid for the close."""
    round_trip_fees: Decimal = ZERO
    """``close_fee`` plus the entry fees of the closed quantity (already booked when it opened)."""
    opened_qty: Decimal = ZERO
    opened_type: TradeType | None = None
    open_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Ledger:
    market_type: MarketType
    initial_capital: Decimal
    cash: Decimal
    positions: Mapping[str, LedgerPosition] = field(default_factory=dict)
    realized_pnl: Decimal = ZERO
    """Gross of fees."""
    fees_paid: Decimal = ZERO

    @classmethod
    def open_account(cls, market_type: MarketType, initial_capital: Decimal) -> Ledger:
        return cls(market_type=market_type, initial_capital=initial_capital, cash=initial_capital)

    def value_term(self, position: LedgerPosition) -> Decimal:
        if self.market_type is MarketType.SPOT:
            return EXACT.multiply(position.quantity, position.price_for_value)
        return position.unrealized_pnl

    @property
    def equity(self) -> Decimal:
        total = self.cash
        for position in self.positions.values():
            total = EXACT.add(total, self.value_term(position))
        return total

    @property
    def unrealized_pnl(self) -> Decimal:
        total = ZERO
        for position in self.positions.values():
            total = EXACT.add(total, position.unrealized_pnl)
        return total

    @property
    def gross_exposure(self) -> Decimal:
        total = ZERO
        for position in self.positions.values():
            total = EXACT.add(total, position.notional)
        return total

    def with_marks(self, prices: Mapping[str, Decimal]) -> Ledger:
        """The ledger at these mark prices; ``self`` when no mark changes (flat, or same prices)."""
        changed = {
            symbol: pos.at_mark(prices[symbol])
            for symbol, pos in self.positions.items()
            if symbol in prices and prices[symbol] != pos.mark_price
        }
        if not changed:
            return self
        return Ledger(
            market_type=self.market_type,
            initial_capital=self.initial_capital,
            cash=self.cash,
            positions={**self.positions, **changed},
            realized_pnl=self.realized_pnl,
            fees_paid=self.fees_paid,
        )


def apply_fill(ledger: Ledger, fill: Fill) -> tuple[Ledger, FillEffect]:
    """Return the ledger after ``fill`` and what the fill closed and opened. Pure."""
    if fill.quantity <= 0 or fill.price <= 0 or fill.fee < 0:
        raise AccountingError(f"invalid fill for {fill.symbol}: {fill}")
    signed = fill.quantity if fill.side is TradeSide.BUY else -fill.quantity
    position = ledger.positions.get(fill.symbol)
    if ledger.market_type is MarketType.SPOT and signed < 0:
        held = position.quantity if position else ZERO
        if fill.quantity - held > DUST:
            raise AccountingError(f"spot sell of {fill.quantity} {fill.symbol} exceeds {held} held")
    closing = position is not None and (position.quantity > 0) != (signed > 0)
    close_qty = min(abs(signed), abs(position.quantity)) if closing and position else ZERO
    if closing and position and abs(abs(signed) - abs(position.quantity)) <= DUST:
        close_qty = abs(position.quantity)  # close all; a dust remainder never stays behind
    open_qty = max(ZERO, fill.quantity - close_qty)
    if open_qty <= DUST:
        open_qty = ZERO
    if open_qty == 0 and close_qty == 0:
        raise AccountingError(f"fill for {fill.symbol} moved nothing")
    close_fee = pro_rata(fill.fee, close_qty, fill.quantity)
    open_fee = EXACT.subtract(fill.fee, close_fee)
    ledger = replace(ledger, fees_paid=EXACT.add(ledger.fees_paid, fill.fee))
    effect = FillEffect(symbol=fill.symbol, side=fill.side)
    if close_qty > 0 and position is not None:
        ledger, effect = _close_part(ledger, position, fill, close_qty, close_fee)
    ledger = replace(ledger, cash=EXACT.subtract(ledger.cash, open_fee))
    if open_qty == 0:
        return _check_spot_cash(ledger), effect
    ledger = _open_part(ledger, fill, open_qty, open_fee)
    opened = TradeType.LONG if fill.side is TradeSide.BUY else TradeType.SHORT
    effect = replace(effect, opened_qty=open_qty, opened_type=opened, open_fee=open_fee)
    return _check_spot_cash(ledger), effect


def _close_part(
    ledger: Ledger, position: LedgerPosition, fill: Fill, close_qty: Decimal, close_fee: Decimal
) -> tuple[Ledger, FillEffect]:
    sign = Decimal(1) if position.quantity > 0 else Decimal(-1)
    closed_signed = sign * close_qty
    full = close_qty == abs(position.quantity)
    cost_removed = (
        position.cost if full else pro_rata(position.cost, closed_signed, position.quantity)
    )
    fees_removed = (
        position.entry_fees
        if full
        else pro_rata(position.entry_fees, close_qty, abs(position.quantity))
    )
    proceeds = EXACT.multiply(closed_signed, fill.price)
    pnl = EXACT.subtract(proceeds, cost_removed)
    if ledger.market_type is MarketType.SPOT:
        cash = EXACT.add(ledger.cash, proceeds)
    else:
        cash = EXACT.add(ledger.cash, pnl)
    positions = dict(ledger.positions)
    if full:
        del positions[position.symbol]
    else:
        positions[position.symbol] = replace(
            position,
            quantity=position.quantity - closed_signed,
            cost=EXACT.subtract(position.cost, cost_removed),
            entry_fees=EXACT.subtract(position.entry_fees, fees_removed),
        )
    ledger = replace(
        ledger,
        cash=EXACT.subtract(cash, close_fee),
        positions=positions,
        realized_pnl=EXACT.add(ledger.realized_pnl, pnl),
    )
    effect = FillEffect(
        symbol=fill.symbol,
        side=fill.side,
        closed_qty=close_qty,
        closed_type=TradeType.LONG if sign > 0 else TradeType.SHORT,
        entry_price=EXACT.divide(cost_removed, closed_signed),
        entry_ts=position.entry_ts,
        realized_pnl=pnl,
        close_fee=close_fee,
        round_trip_fees=EXACT.add(close_fee, fees_removed),
    )
    return ledger, effect


def _open_part(ledger: Ledger, fill: Fill, open_qty: Decimal, open_fee: Decimal) -> Ledger:
    signed = open_qty if fill.side is TradeSide.BUY else -open_qty
    added_cost = EXACT.multiply(signed, fill.price)
    positions = dict(ledger.positions)
    existing = positions.get(fill.symbol)
    if existing is None:
        positions[fill.symbol] = LedgerPosition(
            symbol=fill.symbol,
            quantity=signed,
            cost=added_cost,
            entry_fees=open_fee,
            leverage=fill.leverage,
            entry_ts=fill.ts,
            mark_price=fill.price,
            stop_loss=fill.stop_loss,
            take_profit=fill.take_profit,
        )
    else:
        positions[fill.symbol] = replace(
            existing,
            quantity=existing.quantity + signed,
            cost=EXACT.add(existing.cost, added_cost),
            entry_fees=EXACT.add(existing.entry_fees, open_fee),
            leverage=max(existing.leverage, fill.leverage),
            mark_price=fill.price,
            stop_loss=fill.stop_loss if fill.stop_loss is not None else existing.stop_loss,
            take_profit=fill.take_profit if fill.take_profit is not None else existing.take_profit,
        )
    cash = ledger.cash
    if ledger.market_type is MarketType.SPOT:
        cash = EXACT.subtract(cash, added_cost)
    return replace(ledger, cash=cash, positions=positions)


def _check_spot_cash(ledger: Ledger) -> Ledger:
    if ledger.market_type is MarketType.SPOT and ledger.cash < 0:
        raise AccountingError(f"spot cash would go negative: {ledger.cash}")
    return ledger
