"""The cycle store's insert on PostgreSQL (its reads are ``CycleStore``'s): the rows
``CycleRows`` encodes, in one transaction. ``UNIQUE (strategy_id, slot_ts)`` is a constraint of
the table, so a second cycle for a slot fails in the database (``SlotTaken``), whichever replica
tries. Informational money columns are NUMERIC, written from each float's shortest repr."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from tradeloop.store.cycles import (
    INSERT_CYCLE,
    INSERT_INSTRUCTION,
    INSERT_NOTE,
    INSERT_TRADE,
    INSERT_TX,
    CycleKind,
    CycleRows,
    CycleStore,
    slot_taken,
)
from tradeloop.store.db import StoreError
from tradeloop.store.postgres.db import PgDatabase, dollar_params
from tradeloop.store.postgres.intents import mark_applied_pg
from tradeloop.trading.crashpoints import crash_point
from tradeloop.trading.models import CycleResult
from tradeloop.trading.portfolio.ledger import Ledger

_ONE_PER_SLOT = {"cycles_strategy_id_slot_ts_key", "cycles_compose_id_key"}
_INSERT_PAYLOAD = (
    "INSERT INTO payloads (strategy_id, hash, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
)
_UPDATE_STRATEGY = """UPDATE strategies SET
    last_slot_ts = CASE
        WHEN $1::bigint IS NULL THEN last_slot_ts
        WHEN last_slot_ts IS NULL OR $1::bigint > last_slot_ts THEN $1::bigint
        ELSE last_slot_ts END,
    consecutive_failures = CASE $2::text
        WHEN 'reset' THEN 0 WHEN 'add' THEN consecutive_failures + 1
        ELSE consecutive_failures END,
    updated_at = $3
WHERE id = $4 RETURNING consecutive_failures"""
_CHILDREN = tuple(
    dollar_params(sql) for sql in (INSERT_INSTRUCTION, INSERT_NOTE, INSERT_TX, INSERT_TRADE)
)


class PgCycleRepository(CycleStore):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
        self._pg = db

    async def insert(self, result: CycleResult, *, kind: CycleKind, ledger: Ledger) -> int:
        rows = CycleRows.of(result, kind, ledger)
        try:
            async with self._pg.transaction() as conn:
                return await insert_rows(conn, rows)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name in _ONE_PER_SLOT:
                raise slot_taken(result) from exc
            raise StoreError(f"cycle {result.compose_id} could not be stored: {exc}") from exc


async def insert_rows(conn: asyncpg.Connection, rows: CycleRows) -> int:
    """``rows`` inside the caller's transaction; the strategy's consecutive failures after it."""
    if rows.payloads:
        await conn.executemany(_INSERT_PAYLOAD, rows.payloads)
    cycle_id = await conn.fetchval(
        dollar_params(INSERT_CYCLE) + " RETURNING id", *exact(rows.cycle)
    )
    for sql, children in zip(
        _CHILDREN, (rows.instructions, rows.notes, rows.txs, rows.trades), strict=True
    ):
        if children:
            await conn.executemany(sql, [exact((cycle_id, *row)) for row in children])
    update = rows.update
    failures = await conn.fetchval(
        _UPDATE_STRATEGY, update["slot"], update["failures"], update["now"], update["id"]
    )
    if failures is None:
        raise StoreError(f"no strategy {rows.strategy_id} to record a cycle for")
    await mark_applied_pg(conn, rows.applied, update["now"])
    crash_point("mid_commit")
    return int(failures)


def exact(values: Sequence[Any]) -> tuple[Any, ...]:
    """Floats as the Decimal of their shortest repr (asyncpg would store the binary value's
    full expansion: 0.1 as 0.1000000000000000055511151231257827...)."""
    return tuple(Decimal(repr(v)) if isinstance(v, float) else v for v in values)
