"""The exact ledger as JSON: every Decimal as its string, so a round trip is exact.

A position's stop-loss, take-profit and entry rationale are written only when set, so ledgers
stored before they were kept read back as positions without them."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from tradeloop.trading.models import MarketType, PositionEntry
from tradeloop.trading.portfolio.ledger import Ledger, LedgerPosition

_MONEY = ("initial_capital", "cash", "realized_pnl", "fees_paid")


def ledger_to_json(ledger: Ledger) -> str:
    body: dict[str, Any] = {"market_type": ledger.market_type.value}
    body.update({name: str(getattr(ledger, name)) for name in _MONEY})
    body["positions"] = {symbol: _position(pos) for symbol, pos in ledger.positions.items()}
    return json.dumps(body, separators=(",", ":"))


def ledger_from_json(text: str) -> Ledger:
    body = json.loads(text)
    return Ledger(
        market_type=MarketType(body["market_type"]),
        positions={s: _position_from(s, p) for s, p in body["positions"].items()},
        **{name: Decimal(body[name]) for name in _MONEY},
    )


def without_marks(ledger: Ledger) -> Ledger:
    """The ledger with mark prices and entry rationales dropped: what fills alone determine."""
    positions = {s: replace(p, mark_price=None, entry=None) for s, p in ledger.positions.items()}
    return replace(ledger, positions=positions)


def _position(pos: LedgerPosition) -> dict[str, Any]:
    body: dict[str, Any] = {
        "quantity": str(pos.quantity),
        "cost": str(pos.cost),
        "entry_fees": str(pos.entry_fees),
        "leverage": str(pos.leverage),
        "entry_ts": pos.entry_ts,
        "mark_price": None if pos.mark_price is None else str(pos.mark_price),
    }
    if pos.stop_loss is not None:
        body["stop_loss"] = str(pos.stop_loss)
    if pos.take_profit is not None:
        body["take_profit"] = str(pos.take_profit)
    if pos.entry is not None:
        body["entry"] = pos.entry.model_dump()
    return body


def _position_from(symbol: str, body: dict[str, Any]) -> LedgerPosition:
    mark = body["mark_price"]
    return LedgerPosition(
        symbol=symbol,
        quantity=Decimal(body["quantity"]),
        cost=Decimal(body["cost"]),
        entry_fees=Decimal(body["entry_fees"]),
        leverage=Decimal(body["leverage"]),
        entry_ts=int(body["entry_ts"]),
        mark_price=None if mark is None else Decimal(mark),
        stop_loss=_decimal(body.get("stop_loss")),
        take_profit=_decimal(body.get("take_profit")),
        entry=None if body.get("entry") is None else PositionEntry(**body["entry"]),
    )


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
