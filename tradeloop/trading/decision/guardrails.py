"""Guardrails: the pure stage between composer and gateway that decides what is actually sent.

Every instruction that is dropped, clamped or split leaves a ``GuardNote`` with the reason. Closes
run first (they free buying power) and are never blocked by caps; opens are checked against symbol
list, leverage, max positions, notional caps and buying power, with headroom for slippage and fees.

Dust never passes: an open or a partial close whose quantity rounds to nothing at the ledger's
precision (``QUANTITY_DUST``) or is worth less than the minimum notional (the venue's when it states
one, else ``DEFAULT_MIN_NOTIONAL`` quote units) is dropped. Closing a whole position is always
allowed, however small it is.

Stop and target adjustments of open positions are checked last, against what the orders kept
leave behind (``level_checks``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from tradeloop.trading.constants import (
    BUYING_POWER_SLIPPAGE_BUFFER_BPS,
    DEFAULT_MIN_NOTIONAL,
    QUANTITY_DUST,
)
from tradeloop.trading.decision.level_checks import check_adjustments
from tradeloop.trading.models import (
    ComposeContext,
    GuardNote,
    LevelAdjustment,
    MarketType,
    PositionSnapshot,
    TradeAction,
    TradeInstruction,
    TradeSide,
    UserRequest,
)
from tradeloop.trading.portfolio.views import missing_price_reason, snapshot_prices
from tradeloop.trading.utils import to_decimal

ZERO = Decimal(0)
BPS = Decimal(10_000)
DUST = to_decimal(QUANTITY_DUST)
MIN_NOTIONAL = to_decimal(DEFAULT_MIN_NOTIONAL)


@dataclass(frozen=True)
class GuardLimits:
    symbols: frozenset[str]
    market_type: MarketType
    max_leverage: float
    max_positions: int
    fee_bps: float
    slippage_bps: float
    max_notional_per_symbol: float | None = None
    max_order_value: float | None = None
    quantity_step: float | None = None
    min_trade_qty: float | None = None
    min_notional: float | None = None
    """The venue's minimum order value; None: ``DEFAULT_MIN_NOTIONAL`` applies."""

    @classmethod
    def from_request(cls, request: UserRequest, **market_rules: float | None) -> GuardLimits:
        cfg, ex = request.trading_config, request.exchange_config
        return cls(
            symbols=frozenset(cfg.symbols),
            market_type=ex.market_type,
            max_leverage=cfg.max_leverage,
            max_positions=cfg.max_positions,
            fee_bps=ex.fee_bps,
            slippage_bps=ex.max_slippage_bps,
            max_notional_per_symbol=cfg.max_notional_per_symbol,
            max_order_value=cfg.max_order_value,
            **market_rules,  # type: ignore[arg-type]
        )

    @property
    def headroom(self) -> Decimal:
        """Multiplier on notional that covers slippage, fees and a safety buffer."""
        bps = to_decimal(self.slippage_bps + self.fee_bps + BUYING_POWER_SLIPPAGE_BUFFER_BPS)
        return 1 + bps / BPS


@dataclass(frozen=True)
class GuardResult:
    instructions: list[TradeInstruction]
    notes: list[GuardNote] = field(default_factory=list)
    adjustments: list[LevelAdjustment] = field(default_factory=list)
    """Stop and target changes that may be applied after the fills."""


@dataclass
class _Book:
    """What the instructions accepted so far in this cycle would leave behind."""

    quantities: dict[str, Decimal]
    buying_power: Decimal
    kept: list[TradeInstruction] = field(default_factory=list)
    notes: list[GuardNote] = field(default_factory=list)

    def open_count(self) -> int:
        return sum(1 for q in self.quantities.values() if q != 0)

    def drop(self, inst: TradeInstruction, reason: str, outcome: str = "dropped") -> None:
        self.notes.append(
            GuardNote(
                instruction_id=inst.instruction_id,
                symbol=inst.instrument.symbol,
                outcome=outcome,  # type: ignore[arg-type]
                reason=reason,
            )
        )


def apply_guardrails(
    proposed: list[TradeInstruction],
    context: ComposeContext,
    limits: GuardLimits,
    adjustments: Sequence[LevelAdjustment] = (),
) -> GuardResult:
    """Return the instructions that may be sent, the adjustments that may be applied, and a note
    for every change. Pure."""
    if not proposed and not adjustments:
        return GuardResult(instructions=[])  # most cycles: nothing to check
    prices = snapshot_prices(context.features)
    book = _Book(
        quantities={s: to_decimal(p.quantity) for s, p in context.portfolio.positions.items()},
        buying_power=to_decimal(context.portfolio.buying_power or 0.0),
    )
    positions = context.portfolio.positions
    legs: list[tuple[TradeInstruction, bool]] = []
    for inst in proposed:
        legs.extend(_legs(inst, positions, book, limits))
    for inst, is_close in sorted(legs, key=lambda leg: not leg[1]):
        price = prices.get(inst.instrument.symbol)
        if is_close:
            _accept_close(inst, book, limits, price)
        else:
            _accept_open(inst, book, limits, price)
    if not adjustments:
        return GuardResult(instructions=book.kept, notes=book.notes)
    kept, notes = check_adjustments(
        adjustments,
        positions=positions,
        after_orders=book.quantities,
        prices=prices,
        symbols=limits.symbols,
    )
    return GuardResult(instructions=book.kept, notes=[*book.notes, *notes], adjustments=kept)


def _legs(
    inst: TradeInstruction,
    positions: dict[str, PositionSnapshot],
    book: _Book,
    limits: GuardLimits,
) -> list[tuple[TradeInstruction, bool]]:
    """Validate one proposal and split it into (leg, is_close) parts: flips become close + open."""
    symbol = inst.instrument.symbol
    if symbol not in limits.symbols:
        book.drop(inst, f"symbol {symbol} is not in this strategy's symbols")
        return []
    if inst.action is TradeAction.HOLD:
        return []
    if not math.isfinite(inst.quantity) or inst.quantity <= 0:
        book.drop(inst, f"quantity {inst.quantity} must be a finite number above zero")
        return []
    held = to_decimal(positions[symbol].quantity) if symbol in positions else ZERO
    qty = to_decimal(inst.quantity)
    buying = inst.side is TradeSide.BUY
    if inst.action in (TradeAction.CLOSE_LONG, TradeAction.CLOSE_SHORT):
        return _close_leg(inst, held, qty, book)
    against = (held < 0) if buying else (held > 0)
    if not against:
        return [(inst, False)]
    if inst.action in (TradeAction.OPEN_LONG, TradeAction.OPEN_SHORT):
        open_qty = qty  # an explicit open on the other side: close all, then open what was asked
    else:
        open_qty = qty - abs(held)
    close = _leg(
        inst,
        "close",
        min(qty, abs(held)),
        TradeAction.CLOSE_SHORT if buying else TradeAction.CLOSE_LONG,
    )
    legs = [(close, True)]
    if open_qty > 0:
        action = TradeAction.OPEN_LONG if buying else TradeAction.OPEN_SHORT
        legs.append((_leg(inst, "open", open_qty, action), False))
        book.drop(inst, "reverses the position: split into a close and an open", "split")
    return legs


def _close_leg(
    inst: TradeInstruction, held: Decimal, qty: Decimal, book: _Book
) -> list[tuple[TradeInstruction, bool]]:
    wants_long = inst.action is TradeAction.CLOSE_LONG
    side_ok = inst.side is (TradeSide.SELL if wants_long else TradeSide.BUY)
    if not side_ok:
        book.drop(inst, f"{inst.action} must be a {'SELL' if wants_long else 'BUY'}")
        return []
    if (held <= 0) if wants_long else (held >= 0):
        book.drop(inst, f"no {'long' if wants_long else 'short'} position to close")
        return []
    if qty > abs(held):
        book.drop(inst, f"close quantity clamped to the position size {abs(held)}", "clamped")
        inst = inst.model_copy(update={"quantity": float(abs(held))})
    return [(inst, True)]


def _leg(inst: TradeInstruction, part: str, qty: Decimal, action: TradeAction) -> TradeInstruction:
    return inst.model_copy(
        update={
            "instruction_id": f"{inst.instruction_id}.{part}",
            "quantity": float(qty),
            "action": action,
        }
    )


def _accept_close(
    inst: TradeInstruction, book: _Book, limits: GuardLimits, price: Decimal | None
) -> None:
    symbol = inst.instrument.symbol
    held = book.quantities.get(symbol, ZERO)
    asked = to_decimal(inst.quantity)
    qty = min(asked, abs(held))
    if qty <= 0:
        book.drop(inst, f"no {symbol} position left to close")
        return
    if asked - qty > DUST:
        book.drop(
            inst,
            f"close quantity clamped to the {float(qty):.8g} left after earlier closes",
            "clamped",
        )
    if qty < abs(held):
        qty = _round_step(qty, limits.quantity_step)
        if qty <= 0:
            book.drop(inst, f"close quantity rounds to zero at step {limits.quantity_step}")
            return
        reason = _below_minimum(qty, price, limits)
        if reason:
            book.drop(
                inst, f"partial close dropped: {reason} (closing the whole position is allowed)"
            )
            return
    signed = qty if held > 0 else -qty
    book.quantities[symbol] = held - signed
    action = TradeAction.CLOSE_LONG if held > 0 else TradeAction.CLOSE_SHORT
    book.kept.append(_with(inst, qty, inst.leverage, action))


def _accept_open(
    inst: TradeInstruction, book: _Book, limits: GuardLimits, price: Decimal | None
) -> None:
    symbol = inst.instrument.symbol
    if limits.market_type is MarketType.SPOT and inst.side is TradeSide.SELL:
        book.drop(inst, "spot markets cannot open short positions")
        return
    if price is None:
        book.drop(inst, missing_price_reason(symbol))
        return
    held = book.quantities.get(symbol, ZERO)
    if held == 0 and book.open_count() >= limits.max_positions:
        book.drop(inst, f"max_positions {limits.max_positions} reached")
        return
    leverage = _clamp_leverage(inst, book, limits)
    qty = to_decimal(inst.quantity)
    qty = _cap(
        inst, book, qty, _notional_room(held, price, limits), price, "max_notional_per_symbol"
    )
    if limits.max_order_value is not None:
        qty = _cap(inst, book, qty, to_decimal(limits.max_order_value), price, "max_order_value")
    qty = _cap_buying_power(inst, book, qty, price, limits)
    qty = _round_step(qty, limits.quantity_step)
    reason = _below_minimum(qty, price, limits)
    if reason:
        book.drop(inst, reason)
        return
    book.quantities[symbol] = held + (qty if inst.side is TradeSide.BUY else -qty)
    book.buying_power -= _bp_cost(qty, price, limits)
    action = TradeAction.OPEN_LONG if inst.side is TradeSide.BUY else TradeAction.OPEN_SHORT
    book.kept.append(_with(_valid_levels(inst, book, price), qty, leverage, action))


def _valid_levels(inst: TradeInstruction, book: _Book, price: Decimal) -> TradeInstruction:
    """Drop a stop or target on the wrong side of the price: it would trigger at once."""
    long = inst.side is TradeSide.BUY
    updates: dict[str, None] = {}
    for name, level, below in (
        ("stop_loss", inst.stop_loss, long),
        ("take_profit", inst.take_profit, not long),
    ):
        if level is None:
            continue
        # strictly on its side: a level at the price is touched at once (protective.py)
        ok = math.isfinite(level) and level > 0 and _strictly(to_decimal(level), price, below)
        if not ok:
            where = "below" if below else "above"
            book.drop(inst, f"{name} {level} ignored: must be {where} the price {price}", "clamped")
            updates[name] = None
    return inst.model_copy(update=updates) if updates else inst


def _strictly(level: Decimal, price: Decimal, below: bool) -> bool:
    return level < price if below else level > price


def _clamp_leverage(inst: TradeInstruction, book: _Book, limits: GuardLimits) -> float:
    max_lev = 1.0 if limits.market_type is MarketType.SPOT else limits.max_leverage
    asked = inst.leverage if inst.leverage is not None else 1.0
    if not math.isfinite(asked):
        asked = 1.0
    leverage = min(max(asked, 1.0), max_lev)
    if inst.leverage is not None and leverage != inst.leverage:
        book.drop(inst, f"leverage {inst.leverage} clamped to {leverage}", "clamped")
    return leverage


def _notional_room(held: Decimal, price: Decimal, limits: GuardLimits) -> Decimal | None:
    if limits.max_notional_per_symbol is None:
        return None
    return max(ZERO, to_decimal(limits.max_notional_per_symbol) - abs(held) * price)


def _cap(
    inst: TradeInstruction,
    book: _Book,
    qty: Decimal,
    notional_room: Decimal | None,
    price: Decimal,
    name: str,
) -> Decimal:
    if notional_room is None or qty * price <= notional_room:
        return qty
    capped = notional_room / price
    book.drop(inst, f"quantity clamped by {name} to {float(capped):.8g}", "clamped")
    return capped


def _bp_cost(qty: Decimal, price: Decimal, limits: GuardLimits) -> Decimal:
    """Buying power an open consumes: its notional plus headroom for slippage and fees."""
    return qty * price * limits.headroom


def _cap_buying_power(
    inst: TradeInstruction, book: _Book, qty: Decimal, price: Decimal, limits: GuardLimits
) -> Decimal:
    room = max(ZERO, book.buying_power)
    if _bp_cost(qty, price, limits) <= room:
        return qty
    capped = room / (price * limits.headroom)
    book.drop(inst, f"quantity clamped to buying power {float(room):.2f}", "clamped")
    return capped


def _round_step(qty: Decimal, step: float | None) -> Decimal:
    if step is None or step <= 0:
        return qty.quantize(Decimal("1e-12"), rounding=ROUND_DOWN)
    step_d = to_decimal(step)
    return (qty / step_d).to_integral_value(rounding=ROUND_DOWN) * step_d


def _below_minimum(qty: Decimal, price: Decimal | None, limits: GuardLimits) -> str | None:
    """Why ``qty`` is too small to trade (dust or below a minimum), or None. Without a price (a
    close the gateway will reject anyway) the notional minimum cannot be checked."""
    if qty <= 0:
        return "quantity rounds to zero"
    if qty <= DUST:
        return f"quantity {qty:g} rounds to nothing at the ledger's precision ({QUANTITY_DUST:g})"
    if limits.min_trade_qty is not None and qty < to_decimal(limits.min_trade_qty):
        return f"quantity {float(qty)} is below the market minimum {limits.min_trade_qty}"
    if price is None:
        return None
    value = qty * price
    if limits.min_notional is not None:
        if value < to_decimal(limits.min_notional):
            return (
                f"order value {float(value):.4g} is below the market minimum {limits.min_notional}"
            )
    elif value < MIN_NOTIONAL:
        return (
            f"order value {float(value):.4g} is below the minimum notional {DEFAULT_MIN_NOTIONAL:g}"
            " (the default when the venue states none)"
        )
    return None


def _with(
    inst: TradeInstruction, qty: Decimal, leverage: float | None, action: TradeAction
) -> TradeInstruction:
    return inst.model_copy(update={"quantity": float(qty), "leverage": leverage, "action": action})
