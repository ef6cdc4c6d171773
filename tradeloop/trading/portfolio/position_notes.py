"""What a decision attaches to a position beside its money: the rationale it was opened for, and
the stop-loss and take-profit a later plan moves or cancels.

Both live on the ledger's positions, so they are stored with every cycle's ledger and a restart
keeps them. Pure functions; nothing here moves cash, cost or PnL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from tradeloop.trading.constants import ENTRY_RATIONALE_CHARS
from tradeloop.trading.models import (
    LevelAdjustment,
    PositionEntry,
    TradeAction,
    TradeInstruction,
)
from tradeloop.trading.portfolio.ledger import Ledger, LedgerPosition
from tradeloop.trading.utils import to_decimal

_OPENS = {TradeAction.OPEN_LONG: 1, TradeAction.OPEN_SHORT: -1}


def with_entries(
    ledger: Ledger,
    held_before: Mapping[str, float],
    instructions: Sequence[TradeInstruction],
    *,
    rationale: str | None,
    decided_ts: int,
) -> Ledger:
    """Give each position this cycle opened (it was flat or on the other side before) the
    rationale of the instruction that opened it (else the plan's ``rationale``); positions
    that were only added to keep the entry they had."""
    entries: dict[str, PositionEntry] = {}
    for inst in instructions:
        sign = _OPENS.get(inst.action) if inst.action is not None else None
        symbol = inst.instrument.symbol
        position = ledger.positions.get(symbol)
        if sign is None or position is None or symbol in entries:
            continue
        if _sign(float(position.quantity)) != sign or _sign(held_before.get(symbol, 0.0)) == sign:
            continue
        text = str((inst.meta or {}).get("rationale") or rationale or "")
        entries[symbol] = PositionEntry(
            rationale=text[:ENTRY_RATIONALE_CHARS],
            compose_id=inst.compose_id,
            decided_ts=decided_ts,
        )
    if not entries:
        return ledger
    positions = dict(ledger.positions)
    for symbol, entry in entries.items():
        positions[symbol] = replace(positions[symbol], entry=entry)
    return replace(ledger, positions=positions)


def with_adjustments(
    ledger: Ledger, adjustments: Sequence[LevelAdjustment]
) -> tuple[Ledger, list[LevelAdjustment]]:
    """The ledger with each adjustment's levels set or cancelled, and the adjustments applied:
    one whose position is gone (closed by a fill of the same cycle) applies to nothing."""
    if not adjustments:
        return ledger, []
    positions = dict(ledger.positions)
    applied: list[LevelAdjustment] = []
    for adjustment in adjustments:
        position = positions.get(adjustment.instrument.symbol)
        if position is None or position.quantity == 0:
            continue
        positions[position.symbol] = _adjusted(position, adjustment)
        applied.append(adjustment)
    return (replace(ledger, positions=positions) if applied else ledger), applied


def _adjusted(position: LedgerPosition, adjustment: LevelAdjustment) -> LedgerPosition:
    stop, target = position.stop_loss, position.take_profit
    if adjustment.cancel_stop_loss:
        stop = None
    elif adjustment.stop_loss is not None:
        stop = to_decimal(adjustment.stop_loss)
    if adjustment.cancel_take_profit:
        target = None
    elif adjustment.take_profit is not None:
        target = to_decimal(adjustment.take_profit)
    return replace(position, stop_loss=stop, take_profit=target)


def _sign(quantity: float) -> int:
    return (quantity > 0) - (quantity < 0)
