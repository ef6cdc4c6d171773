"""``open_store`` for a ``postgresql://`` URL (see ``store.backend``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from tradeloop.store.backend import NewStrategy, Store, StoredCycle
from tradeloop.store.cycles import CycleRows
from tradeloop.store.db import StoreInUse
from tradeloop.store.postgres.cycles import PgCycleRepository, insert_rows
from tradeloop.store.postgres.db import PgDatabase, dollar_params
from tradeloop.store.postgres.intents import PgIntentStore
from tradeloop.store.postgres.strategies import PgStrategyRepository
from tradeloop.store.strategies import INSERT_STRATEGY, strategy_params
from tradeloop.trading.errors import ConfigError

RUNNER_LOCK = 0x7472_6164_656C_0001
"""The session advisory lock an exclusive store holds: one process runs the strategies."""


@asynccontextmanager
async def open_postgres(url: str, *, exclusive: bool) -> AsyncIterator[Store]:
    db = await PgDatabase.open(url)
    try:
        if exclusive:
            async with db.pool.acquire() as holder:
                if not await holder.fetchval("SELECT pg_try_advisory_lock($1)", RUNNER_LOCK):
                    raise StoreInUse(db.label, await _holder_pid(holder))
                try:
                    yield postgres_store(db)
                finally:
                    await holder.execute("SELECT pg_advisory_unlock($1)", RUNNER_LOCK)
        else:
            yield postgres_store(db)
    finally:
        await db.close()


def postgres_store(db: PgDatabase) -> Store:
    async def insert_whole(strategy: NewStrategy, cycles: Sequence[StoredCycle]) -> None:
        params = strategy_params(
            strategy.strategy_id,
            strategy.name,
            strategy.agent_kind,
            strategy.request,
            strategy.replay,
            strategy.status,
            strategy.reason,
        )
        try:
            async with db.transaction() as conn:
                await conn.execute(dollar_params(INSERT_STRATEGY), *params)
                for result, kind, ledger in cycles:
                    await insert_rows(conn, CycleRows.of(result, kind, ledger))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ConfigError(
                f"strategy {strategy.strategy_id} could not be stored: {exc}"
            ) from exc

    return Store(
        backend="postgresql",
        label=db.label,
        rows=db,
        strategies=PgStrategyRepository(db),
        cycles=PgCycleRepository(db),
        intents=PgIntentStore(db),
        insert_whole=insert_whole,
    )


async def _holder_pid(conn: asyncpg.Connection) -> str:
    """The pid of the tradeloop process holding ``RUNNER_LOCK`` (its connections are named
    ``tradeloop pid N``), or ``unknown``."""
    name = await conn.fetchval(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted"
        " AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1",
        RUNNER_LOCK,
    )
    return str(name).removeprefix("tradeloop pid ") if name else "unknown"
