"""One store, two backends: ``open_store`` gives the same repositories over SQLite (a file) or
PostgreSQL (a ``postgresql://`` URL), so nothing above the store knows which one it runs on.

``exclusive`` (what running strategies from a SQLite file needs): the ``ProcessLock`` on
``<db>.lock``, so a second process that would run the same strategies is refused with
``StoreInUse``. A PostgreSQL store is ``shared``: any number of processes run from it, each
strategy by the one holding its lease (``services.slots.leases``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloop.store.cycles import CycleKind, CycleRepository, CycleStore, insert_cycle
from tradeloop.store.db import Database, ProcessLock
from tradeloop.store.intents import SqliteIntentStore
from tradeloop.store.limits import LimitStore, SqliteLimitStore
from tradeloop.store.rows import RowSource
from tradeloop.store.strategies import StrategyRepository, StrategyStore, insert_strategy
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.execution.intents import IntentStore
from tradeloop.trading.models import CycleResult, StrategyStatus, UserRequest
from tradeloop.trading.portfolio.ledger import Ledger

StoredCycle = tuple[CycleResult, CycleKind, Ledger]
"""A cycle as ``Store.insert_stopped`` takes it: the result, its kind, the ledger after it."""


@dataclass(frozen=True, slots=True)
class NewStrategy:
    strategy_id: str
    name: str
    agent_kind: str
    request: UserRequest
    replay: dict[str, Any] | None
    status: StrategyStatus
    reason: str | None
    owner: str


@dataclass(frozen=True, slots=True)
class Store:
    backend: str
    """``sqlite`` or ``postgresql``."""
    label: str
    """Where it is, as logs may show it (a URL without its password)."""
    rows: RowSource
    """Reads in portable SQL (``?`` placeholders), for what no repository answers (row counts)."""
    strategies: StrategyStore
    cycles: CycleStore
    intents: IntentStore
    limits: LimitStore
    """Per-principal limits the operator sets (``services.limits`` checks them)."""
    shared: bool
    """Several processes may run strategies from it at once, sharing them by leases
    (PostgreSQL); a SQLite file is one process's (``ProcessLock``)."""
    insert_whole: Callable[[NewStrategy, Sequence[StoredCycle]], Awaitable[None]]
    """A strategy with all its cycles in one transaction (a finished backtest); ``ConfigError``
    when its id or name is taken, and then nothing is stored."""


TABLES = (
    "strategies", "cycles", "payloads", "instructions", "guard_notes", "tx_results", "trades",
    "live_intents", "leases", "replicas", "principal_limits",
)  # fmt: skip
"""Every table of a tradeloop store, parents before children."""


async def row_counts(store: Store) -> dict[str, int]:
    """Rows per table (what ``tradeloop db copy`` compares between the two stores)."""
    counts = {}
    for table in TABLES:
        row = await store.rows.fetchone(f"SELECT COUNT(*) FROM {table}")
        counts[table] = int(row[0]) if row is not None else 0
    return counts


async def schema_version(store: Store) -> int:
    row = await store.rows.fetchone("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row is not None and row[0] is not None else 0


@asynccontextmanager
async def open_store(
    path: Path, url: str | None = None, *, exclusive: bool = True
) -> AsyncIterator[Store]:
    """The PostgreSQL store at ``url`` when given, else the SQLite file at ``path``."""
    async with AsyncExitStack() as stack:
        if url is not None:
            from tradeloop.store.postgres.backend import open_postgres  # asyncpg only when used

            yield await stack.enter_async_context(open_postgres(url))
            return
        if exclusive:
            stack.enter_context(ProcessLock(path))
        db = await Database.open(path)
        stack.push_async_callback(db.close)
        yield sqlite_store(db)


def sqlite_store(db: Database) -> Store:
    async def insert_whole(strategy: NewStrategy, cycles: Sequence[StoredCycle]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            insert_strategy(
                conn,
                strategy_id=strategy.strategy_id,
                name=strategy.name,
                agent_kind=strategy.agent_kind,
                request=strategy.request,
                replay=strategy.replay,
                status=strategy.status,
                reason=strategy.reason,
                owner=strategy.owner,
            )
            for result, kind, ledger in cycles:  # encoded on the writer thread, off the loop
                insert_cycle(conn, result, kind=kind, ledger=ledger)

        try:
            await db.write(write)
        except sqlite3.IntegrityError as exc:
            raise ConfigError(
                f"strategy {strategy.strategy_id} could not be stored: {exc}"
            ) from exc

    return Store(
        backend="sqlite",
        label=str(db.path),
        rows=db,
        strategies=StrategyRepository(db),
        cycles=CycleRepository(db),
        intents=SqliteIntentStore(db),
        limits=SqliteLimitStore(db),
        shared=False,
        insert_whole=insert_whole,
    )
