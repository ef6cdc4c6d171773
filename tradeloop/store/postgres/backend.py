"""``open_store`` for a ``postgresql://`` URL (see ``store.backend``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from tradeloop.store.backend import NewStrategy, Store, StoredCycle
from tradeloop.store.cycles import CycleRows
from tradeloop.store.postgres.cycles import PgCycleRepository, insert_rows
from tradeloop.store.postgres.db import PgDatabase, dollar_params
from tradeloop.store.postgres.intents import PgIntentStore
from tradeloop.store.postgres.limits import PgLimitStore
from tradeloop.store.postgres.strategies import PgStrategyRepository
from tradeloop.store.strategies import INSERT_STRATEGY, strategy_params
from tradeloop.trading.errors import ConfigError


@asynccontextmanager
async def open_postgres(url: str) -> AsyncIterator[Store]:
    db = await PgDatabase.open(url)
    try:
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
            strategy.owner,
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
        limits=PgLimitStore(db),
        shared=True,
        insert_whole=insert_whole,
    )
