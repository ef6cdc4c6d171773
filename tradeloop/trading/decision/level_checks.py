"""Guardrails for a plan's stop-loss and take-profit adjustments of open positions.

An adjustment passes only for a position held when the cycle began that the cycle's own orders
leave open on the same side. Each new level must be strictly on its side of the current price (a
long's stop below and target above it, a short's mirrored): a level at the price would be touched
at once, as for the levels of an open. A bad part is dropped and the rest kept; every part dropped
leaves a ``GuardNote`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from tradeloop.trading.models import GuardNote, LevelAdjustment, PositionSnapshot
from tradeloop.trading.portfolio.views import missing_price_reason
from tradeloop.trading.utils import to_decimal


def check_adjustments(
    adjustments: Sequence[LevelAdjustment],
    *,
    positions: Mapping[str, PositionSnapshot],
    after_orders: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    symbols: frozenset[str],
) -> tuple[list[LevelAdjustment], list[GuardNote]]:
    """The adjustments that may be applied (with the levels they replace) and a note for every
    one dropped or cut. ``after_orders``: each symbol's quantity once the orders this cycle kept
    have filled. Pure."""
    kept: list[LevelAdjustment] = []
    notes: list[GuardNote] = []
    seen: set[str] = set()
    for adjustment in adjustments:
        symbol = adjustment.instrument.symbol
        problem = _refusal(adjustment, positions, after_orders, prices, symbols, seen)
        if problem is not None:
            notes.append(_note(adjustment, problem, "dropped"))
            continue
        seen.add(symbol)
        position = positions[symbol]
        checked, reasons = _checked_levels(adjustment, position, prices[symbol])
        if not checked.changes_anything:
            notes.append(_note(adjustment, "; ".join(reasons) or "changes nothing", "dropped"))
            continue
        notes.extend(_note(adjustment, reason, "clamped") for reason in reasons)
        kept.append(
            checked.model_copy(
                update={
                    "previous_stop_loss": position.stop_loss,
                    "previous_take_profit": position.take_profit,
                }
            )
        )
    return kept, notes


def _refusal(
    adjustment: LevelAdjustment,
    positions: Mapping[str, PositionSnapshot],
    after_orders: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    symbols: frozenset[str],
    seen: set[str],
) -> str | None:
    """Why the whole adjustment is refused, or None."""
    symbol = adjustment.instrument.symbol
    if symbol not in symbols:
        return f"symbol {symbol} is not in this strategy's symbols"
    position = positions.get(symbol)
    if position is None or position.quantity == 0:
        return f"no open {symbol} position to adjust"
    if symbol in seen:
        return f"a second adjustment of {symbol} in one plan (the first one counts)"
    left = after_orders.get(symbol, Decimal(0))
    if left == 0:
        return f"the {symbol} position is closed in this cycle"
    if (left > 0) != (position.quantity > 0):
        return f"the {symbol} position is reversed in this cycle"
    if symbol not in prices:
        return missing_price_reason(symbol)
    return None


def _checked_levels(
    adjustment: LevelAdjustment, position: PositionSnapshot, price: Decimal
) -> tuple[LevelAdjustment, list[str]]:
    long = position.quantity > 0
    updates: dict[str, object] = {}
    reasons: list[str] = []
    for name, below in (("stop_loss", long), ("take_profit", not long)):
        level: float | None = getattr(adjustment, name)
        if getattr(adjustment, f"cancel_{name}"):
            if getattr(position, name) is None:
                reasons.append(f"cancel_{name} ignored: the position has no {name}")
                updates[f"cancel_{name}"] = False
            continue
        if level is None:
            continue
        # strictly on its side: a level at the price is touched at once (protective.py)
        if not (math.isfinite(level) and level > 0 and _strictly(to_decimal(level), price, below)):
            side = "long" if long else "short"
            where = "below" if below else "above"
            reasons.append(
                f"{name} {level:.10g} ignored: a {side}'s must be {where} the price {float(price):.10g}"
            )
            updates[name] = None
    checked = adjustment.model_copy(update=updates) if updates else adjustment
    return checked, reasons


def _strictly(level: Decimal, price: Decimal, below: bool) -> bool:
    return level < price if below else level > price


def _note(adjustment: LevelAdjustment, reason: str, outcome: str) -> GuardNote:
    return GuardNote(
        instruction_id=adjustment.adjustment_id,
        symbol=adjustment.instrument.symbol,
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
    )
