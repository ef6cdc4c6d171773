"""``IntentStore`` on PostgreSQL: the ``live_intents`` rows of ``store.intents``, same encoding
(exact decimals as text), each write its own transaction committed before the method returns."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from tradeloop.store.intents import COLUMNS, IntentReads, decode_intent, encode_intent, opt_str
from tradeloop.store.postgres.db import PgDatabase
from tradeloop.trading.errors import AccountingError
from tradeloop.trading.execution.intents import (
    OrderIntent,
    Settlement,
    apply_settlement,
    check_applicable,
)

_INSERT = (
    f"INSERT INTO live_intents ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
    " ON CONFLICT (client_order_id) DO NOTHING"
)
_SELECT_FOR_UPDATE = (
    f"SELECT {', '.join(COLUMNS)} FROM live_intents WHERE client_order_id = $1 FOR UPDATE"
)


class PgIntentStore(IntentReads):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
        self._pg = db

    async def record_intent(self, intent: OrderIntent) -> OrderIntent:
        async with self._pg.transaction() as conn:
            if await conn.execute(_INSERT, *encode_intent(intent)) == "INSERT 0 1":
                return intent
            row = await conn.fetchrow(_SELECT_FOR_UPDATE, intent.client_order_id)
        if row is None:
            raise AccountingError(f"intent {intent.client_order_id} neither inserted nor found")
        return decode_intent(row)

    async def mark_sent(self, client_order_id: str, exchange_order_id: str, ts: int) -> None:
        async with self._pg.transaction() as conn:
            status = await conn.execute(
                "UPDATE live_intents SET exchange_order_id = $1, updated_ts = $2, "
                "status = CASE status WHEN 'pending' THEN 'acked' ELSE status END "
                "WHERE client_order_id = $3",
                exchange_order_id,
                ts,
                client_order_id,
            )
            if status != "UPDATE 1":
                raise AccountingError(f"no intent with client order id {client_order_id}")

    async def settle(self, client_order_id: str, settlement: Settlement) -> OrderIntent:
        async with self._pg.transaction() as conn:
            row = await conn.fetchrow(_SELECT_FOR_UPDATE, client_order_id)
            if row is None:
                raise AccountingError(f"no intent with client order id {client_order_id}")
            current = decode_intent(row)
            settled = apply_settlement(current, settlement)
            if settled is not current:
                await conn.execute(
                    "UPDATE live_intents SET status = $1, filled_base = $2, avg_price = $3, "
                    "fee_quote = $4, exchange_order_id = $5, reason = $6, updated_ts = $7 "
                    "WHERE client_order_id = $8",
                    settled.status.value,
                    str(settled.filled_base),
                    opt_str(settled.avg_price),
                    str(settled.fee_quote),
                    settled.exchange_order_id,
                    settled.reason,
                    settled.updated_ts,
                    client_order_id,
                )
            return settled

    async def mark_applied(self, client_order_ids: Iterable[str], ts: int) -> None:
        async with self._pg.transaction() as conn:
            await mark_applied_pg(conn, client_order_ids, ts)


async def mark_applied_pg(
    conn: asyncpg.Connection, client_order_ids: Iterable[str], ts: int
) -> None:
    """Mark fills applied inside the caller's transaction (the cycle's); raises
    ``AccountingError`` (rolling it back) when one already is or has no intent
    (``check_applicable``): a fill is never applied twice."""
    ids = list(client_order_ids)
    if not ids:
        return
    stored = await conn.fetch(
        "SELECT client_order_id, applied FROM live_intents"
        " WHERE client_order_id = ANY($1::text[]) FOR UPDATE",
        ids,
    )
    check_applicable(ids, {row[0]: bool(row[1]) for row in stored})
    await conn.execute(
        "UPDATE live_intents SET applied = 1, updated_ts = $1 WHERE client_order_id = ANY($2::text[])",
        ts,
        ids,
    )
