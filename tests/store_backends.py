"""Both store backends behind one fixture: the store tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from tradeloop.settings import Settings
from tradeloop.store.backend import TABLES, Store, open_store
from tradeloop.store.codec import without_marks
from tradeloop.store.postgres.db import dollar_params
from tradeloop.trading.models import TxResult, UserRequest
from tradeloop.trading.portfolio.in_memory import fill_from_tx
from tradeloop.trading.portfolio.ledger import Ledger, apply_fill
from tradeloop.trading.utils import to_decimal

BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: a fresh SQLite file or a fresh PostgreSQL database."""

    backend: str
    path: Path
    url: str | None

    @property
    def db(self) -> str:
        """What ``--db`` / ``TRADELOOP_DB`` take for it."""
        return self.url if self.url is not None else str(self.path)

    def settings(self, **values: Any) -> Settings:
        """Server settings on this store (``values``: other settings)."""
        return Settings.from_env({}, db_path=self.db, **values)

    @asynccontextmanager
    async def open(self, *, exclusive: bool = False) -> AsyncIterator[Store]:
        async with open_store(self.path, self.url, exclusive=exclusive) as store:
            yield store


async def stored_ledger_mismatches(store: Store, strategy_id: str, request: UserRequest) -> int:
    """Cycles whose stored ledger differs from the replay (``apply_fill``) of the fills stored
    up to them, from an account opened with the request's capital: on either backend."""
    ex, cfg = request.exchange_config, request.trading_config
    ledger = Ledger.open_account(ex.market_type, to_decimal(cfg.initial_capital))
    fills: dict[int, list[tuple[int, TxResult]]] = {}
    for cycle_id, ts, tx in await store.cycles.fills(strategy_id):
        fills.setdefault(cycle_id, []).append((ts, tx))
    mismatches = 0
    for cycle_id, stored in await store.cycles.ledgers(strategy_id):
        for ts, tx in fills.get(cycle_id, []):
            ledger, _ = apply_fill(ledger, fill_from_tx(tx, ts))
        if without_marks(ledger) != without_marks(stored):
            mismatches += 1
    return mismatches


async def fetch(settings: Settings, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` (``?`` placeholders) read straight from the settings' database, on either
    backend, around the code under test."""
    if settings.db_url is None:
        with sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]
    conn = await asyncpg.connect(settings.db_url.get_secret_value())
    try:
        return [dict(row) for row in await conn.fetch(dollar_params(sql), *params)]
    finally:
        await conn.close()


async def execute(settings: Settings, sql: str, params: Sequence[Any] = ()) -> None:
    """Change the settings' database behind the code's back (e.g. as if a process had been down)."""
    if settings.db_url is None:
        with sqlite3.connect(settings.db_path) as conn:
            conn.execute(sql, params)
        return
    conn = await asyncpg.connect(settings.db_url.get_secret_value())
    try:
        await conn.execute(dollar_params(sql), *params)
    finally:
        await conn.close()


async def stored_bytes(settings: Settings) -> bytes:
    """Everything the settings' database holds, as bytes to search for a secret: the SQLite
    files byte for byte, or every PostgreSQL row's text."""
    if settings.db_url is None:
        folder = settings.db_path.parent
        return b"".join(path.read_bytes() for path in folder.iterdir() if path.is_file())
    rows = [row for table in TABLES for row in await fetch(settings, f"SELECT * FROM {table}")]
    return repr(rows).encode()
