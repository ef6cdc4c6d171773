"""A PostgreSQL database through an asyncpg pool, migrated on open.

Opening connects (a clear ``StoreError`` naming the server, never the password, when it cannot),
then migrates under a transaction-scoped advisory lock, so replicas starting together migrate
once. A database whose schema version is newer than this tradeloop, or that holds tables but no
``schema_version`` (not a tradeloop database), is refused untouched.

Reads take ``?`` placeholders like SQLite's (translated to ``$n`` once per statement) so the
stores' read code is shared; writes run in ``transaction()`` on one pooled connection.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from tradeloop.store.db import Migration, StoreError, load_migrations

logger = logging.getLogger(__name__)

MIGRATION_LOCK = 0x7472_6164_656C_6F6F  # "tradeloo": the advisory lock key migrations hold
_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)"""
_PASSWORD = re.compile(r"(://[^:/@]*):[^@]*@")


def redact(url: str) -> str:
    """``url`` without its password: what logs and errors may show."""
    return _PASSWORD.sub(r"\1:***@", url)


@lru_cache(maxsize=512)
def dollar_params(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (our SQL has no ``?`` in literals)."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql)


class PgDatabase:
    def __init__(self, pool: asyncpg.Pool, label: str) -> None:
        self.pool = pool
        self.label = label

    @classmethod
    async def open(cls, url: str, *, max_size: int = 10) -> PgDatabase:
        """Connect to ``url`` and migrate it to the latest version."""
        label = redact(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                server_settings={"application_name": f"tradeloop pid {os.getpid()}"},
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"cannot open the PostgreSQL database {label}: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                await migrate(conn, load_migrations("tradeloop.store.postgres"), label)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, label)

    async def close(self) -> None:
        await self.pool.close()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        return list(await self.pool.fetch(dollar_params(sql), *params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(dollar_params(sql), *params)
        return row

    async def listen(
        self, handlers: Mapping[str, Callable[[str], None]]
    ) -> Callable[[], Awaitable[None]]:
        """LISTEN on each channel of ``handlers`` (called with the NOTIFY payload) on one pooled
        connection kept for it; returns the function that stops listening and gives it back."""
        conn = await self.pool.acquire()
        callbacks = {channel: _payload_to(handler) for channel, handler in handlers.items()}
        for channel, heard in callbacks.items():
            await conn.add_listener(channel, heard)

        async def stop() -> None:
            try:
                for channel, heard in callbacks.items():
                    await conn.remove_listener(channel, heard)
            finally:
                await self.pool.release(conn)

        return stop

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection in one transaction: committed on exit, rolled back on raise."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn


def _payload_to(
    handler: Callable[[str], None],
) -> Callable[[object, int, str, str], None]:
    """An asyncpg listener that hands ``handler`` the payload only."""

    def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        handler(payload)

    return heard


async def migrate(conn: asyncpg.Connection, migrations: Sequence[Migration], label: str) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        current = await _check(conn, migrations[-1].version, label)
        await conn.execute(_VERSION_TABLE)
    for migration in migrations:
        if migration.version <= current:
            continue
        name = f"{migration.version:04d}_{migration.name}"
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                done = await conn.fetchval("SELECT MAX(version) FROM schema_version")
                if done is not None and done >= migration.version:
                    continue  # another replica applied it meanwhile
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time_ns() // 1_000_000,
                )
        except asyncpg.PostgresError as exc:
            raise StoreError(f"migration {name} failed on {label}: {exc}") from exc
        logger.info("database migrated to version %d (%s)", migration.version, migration.name)


async def _check(conn: asyncpg.Connection, latest: int, label: str) -> int:
    """The schema version (0: empty database); refuses a foreign or a newer database."""
    tables = {
        row[0]
        for row in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    if "schema_version" not in tables:
        if tables:
            raise StoreError(
                f"{label} holds tables but is not a tradeloop database; not touched"
                " (use an empty database)"
            )
        return 0
    version = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
    if version > latest:
        raise StoreError(
            f"{label} has schema version {version}, newer than this tradeloop knows ({latest}); "
            "upgrade tradeloop or use another --db. The database was not modified."
        )
    return version
