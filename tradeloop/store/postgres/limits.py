"""The limits' writes on PostgreSQL (their reads are ``LimitStore``'s), and the holdings read
inside an insert's transaction under a per-principal lock."""

from __future__ import annotations

import asyncpg

from tradeloop.store.limits import (
    DEFAULT_PRINCIPAL,
    DELETE_LIMITS,
    SELECT_APPLICABLE,
    SELECT_HELD,
    UPSERT_LIMITS,
    Holdings,
    LimitStore,
    PrincipalLimits,
    holdings_of,
    limits_params,
)
from tradeloop.store.postgres.db import PgDatabase, dollar_params

PRINCIPAL_LOCKS = 0x6C69_6D69  # "limi": the first key of the per-principal advisory locks


async def read_locked_holdings(conn: asyncpg.Connection, principal: str) -> Holdings:
    """``principal``'s holdings inside the caller's transaction, after taking the principal's
    transaction-scoped advisory lock: a second create for the same principal, on any replica,
    waits here until the first commits, and then counts its strategy."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", PRINCIPAL_LOCKS, principal)
    return holdings_of(
        principal,
        await conn.fetch(dollar_params(SELECT_APPLICABLE), principal, DEFAULT_PRINCIPAL),
        await conn.fetch(dollar_params(SELECT_HELD), principal),
    )


class PgLimitStore(LimitStore):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
        self._pg = db

    async def put(self, limits: PrincipalLimits) -> None:
        async with self._pg.transaction() as conn:
            await conn.execute(dollar_params(UPSERT_LIMITS), *limits_params(limits))

    async def remove(self, principal: str) -> bool:
        async with self._pg.transaction() as conn:
            status = await conn.execute(dollar_params(DELETE_LIMITS), principal)
        return str(status) != "DELETE 0"
