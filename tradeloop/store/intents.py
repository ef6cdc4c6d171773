"""SqliteIntentStore: the live gateway's intent log in the ``live_intents`` table.

Every write is its own ``BEGIN IMMEDIATE`` transaction on the store's single writer connection and
is committed before the method returns, which is what lets the gateway send an order right after
``record_intent``: a crash at any later point leaves a row that says "maybe sent".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from tradeloop.store.db import Database, WriterConnection
from tradeloop.store.rows import RowSource
from tradeloop.trading.errors import AccountingError
from tradeloop.trading.execution.intents import (
    IntentStatus,
    OrderIntent,
    Settlement,
    apply_settlement,
    check_applicable,
    counts_toward_traded_value,
    is_fill,
)
from tradeloop.trading.models import TradeSide

COLUMNS = (
    "client_order_id", "strategy_id", "account", "compose_id", "instruction_id", "symbol",
    "market_symbol", "side", "order_type", "amount", "base_quantity", "reference_price",
    "limit_price", "reduce_only", "leverage", "status", "exchange_order_id", "filled_base",
    "avg_price", "fee_quote", "reason", "applied", "created_ts", "updated_ts",
)  # fmt: skip
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM live_intents"


class IntentReads:
    """The intent log's reads, shared by both backends (portable SQL on a ``RowSource``)."""

    def __init__(self, db: RowSource) -> None:
        self._db = db

    async def get(self, client_order_id: str) -> OrderIntent | None:
        row = await self._db.fetchone(f"{_SELECT} WHERE client_order_id = ?", (client_order_id,))
        return decode_intent(row) if row is not None else None

    async def list_intents(
        self, strategy_id: str | None = None, *, unresolved_only: bool = False
    ) -> list[OrderIntent]:
        where, params = [], []
        if strategy_id is not None:
            where.append("strategy_id = ?")
            params.append(strategy_id)
        if unresolved_only:
            where.append("status IN ('pending', 'acked')")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetchall(f"{_SELECT}{clause} ORDER BY created_ts, rowid", params)
        return [decode_intent(row) for row in rows]

    async def traded_value_since(self, strategy_id: str, since_ts: int) -> Decimal:
        rows = await self._db.fetchall(
            f"{_SELECT} WHERE strategy_id = ? AND created_ts >= ?", (strategy_id, since_ts)
        )
        total = Decimal(0)
        for intent in map(decode_intent, rows):
            if counts_toward_traded_value(intent):
                total += intent.base_quantity * intent.reference_price
        return total

    async def unapplied_fills(self, strategy_id: str) -> list[OrderIntent]:
        rows = await self._db.fetchall(
            f"{_SELECT} WHERE strategy_id = ? AND applied = 0 AND status IN ('filled', 'partial')"
            " ORDER BY created_ts, rowid",
            (strategy_id,),
        )
        return [intent for intent in map(decode_intent, rows) if is_fill(intent)]


class SqliteIntentStore(IntentReads):
    """``IntentStore`` on the tradeloop database (see ``tradeloop.trading.execution.intents``)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._sqlite = db

    async def record_intent(self, intent: OrderIntent) -> OrderIntent:
        placeholders = ", ".join("?" for _ in COLUMNS)
        async with self._sqlite.transaction() as conn:
            cursor = await conn.execute(
                f"INSERT OR IGNORE INTO live_intents ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                encode_intent(intent),
            )
            if cursor.rowcount == 1:
                return intent
            existing = await _get(conn, intent.client_order_id)
        if existing is None:
            raise AccountingError(f"intent {intent.client_order_id} neither inserted nor found")
        return existing

    async def mark_sent(self, client_order_id: str, exchange_order_id: str, ts: int) -> None:
        async with self._sqlite.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE live_intents SET exchange_order_id = ?, updated_ts = ?, "
                "status = CASE status WHEN 'pending' THEN 'acked' ELSE status END "
                "WHERE client_order_id = ?",
                (exchange_order_id, ts, client_order_id),
            )
            if cursor.rowcount != 1:
                raise AccountingError(f"no intent with client order id {client_order_id}")

    async def settle(self, client_order_id: str, settlement: Settlement) -> OrderIntent:
        async with self._sqlite.transaction() as conn:
            current = await _get(conn, client_order_id)
            if current is None:
                raise AccountingError(f"no intent with client order id {client_order_id}")
            settled = apply_settlement(current, settlement)
            if settled is not current:
                await conn.execute(
                    "UPDATE live_intents SET status = ?, filled_base = ?, avg_price = ?, "
                    "fee_quote = ?, exchange_order_id = ?, reason = ?, updated_ts = ? "
                    "WHERE client_order_id = ?",
                    (
                        settled.status.value,
                        str(settled.filled_base),
                        opt_str(settled.avg_price),
                        str(settled.fee_quote),
                        settled.exchange_order_id,
                        settled.reason,
                        settled.updated_ts,
                        client_order_id,
                    ),
                )
            return settled

    async def mark_applied(self, client_order_ids: Iterable[str], ts: int) -> None:
        async with self._sqlite.transaction() as conn:
            await mark_applied_in(conn, client_order_ids, ts)


async def mark_applied_in(conn: WriterConnection, client_order_ids: Iterable[str], ts: int) -> None:
    """Mark fills as applied to the portfolio inside the caller's transaction (the cycle commit),
    so "in the portfolio" and "marked applied" can never disagree after a crash."""
    ids = list(client_order_ids)
    await conn.run(lambda c: mark_applied_rows(c, ids, ts))


def mark_applied_rows(conn: sqlite3.Connection, client_order_ids: Iterable[str], ts: int) -> None:
    """``mark_applied_in`` for code already on the writer thread (``Database.write``). Raises
    ``AccountingError`` (rolling the caller's transaction back) when a fill is already applied
    or has no intent (``check_applicable``): a portfolio takes each logged fill once."""
    ids = list(client_order_ids)
    if not ids:
        return
    marks = ", ".join("?" for _ in ids)
    stored = conn.execute(
        f"SELECT client_order_id, applied FROM live_intents WHERE client_order_id IN ({marks})",
        ids,
    ).fetchall()
    check_applicable(ids, {row[0]: bool(row[1]) for row in stored})
    conn.executemany(
        "UPDATE live_intents SET applied = 1, updated_ts = ? WHERE client_order_id = ?",
        [(ts, cid) for cid in ids],
    )


async def _get(conn: WriterConnection, client_order_id: str) -> OrderIntent | None:
    rows = list(
        await conn.execute_fetchall(f"{_SELECT} WHERE client_order_id = ?", (client_order_id,))
    )
    return decode_intent(rows[0]) if rows else None


def encode_intent(intent: OrderIntent) -> tuple[Any, ...]:
    return (
        intent.client_order_id,
        intent.strategy_id,
        intent.account,
        intent.compose_id,
        intent.instruction_id,
        intent.symbol,
        intent.market_symbol,
        intent.side.value,
        intent.order_type,
        str(intent.amount),
        str(intent.base_quantity),
        str(intent.reference_price),
        opt_str(intent.limit_price),
        int(intent.reduce_only),
        intent.leverage,
        intent.status.value,
        intent.exchange_order_id,
        str(intent.filled_base),
        opt_str(intent.avg_price),
        str(intent.fee_quote),
        intent.reason,
        int(intent.applied),
        intent.created_ts,
        intent.updated_ts,
    )


def decode_intent(row: Any) -> OrderIntent:
    return OrderIntent(
        client_order_id=row["client_order_id"],
        strategy_id=row["strategy_id"],
        account=row["account"],
        compose_id=row["compose_id"],
        instruction_id=row["instruction_id"],
        symbol=row["symbol"],
        market_symbol=row["market_symbol"],
        side=TradeSide(row["side"]),
        order_type=row["order_type"],
        amount=Decimal(row["amount"]),
        base_quantity=Decimal(row["base_quantity"]),
        reference_price=Decimal(row["reference_price"]),
        limit_price=_opt_dec(row["limit_price"]),
        reduce_only=bool(row["reduce_only"]),
        leverage=row["leverage"],
        status=IntentStatus(row["status"]),
        exchange_order_id=row["exchange_order_id"],
        filled_base=Decimal(row["filled_base"]),
        avg_price=_opt_dec(row["avg_price"]),
        fee_quote=Decimal(row["fee_quote"]),
        reason=row["reason"],
        applied=bool(row["applied"]),
        created_ts=row["created_ts"],
        updated_ts=row["updated_ts"],
    )


def opt_str(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _opt_dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None
