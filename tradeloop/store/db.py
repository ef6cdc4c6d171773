"""One SQLite file, checked before it is touched, migrated, then written through one connection.

Opening: an existing file is first checked read-only (SQLite header, ``PRAGMA quick_check``, schema
version); a corrupt file, a foreign database or one written by a newer tradeloop raises
``StoreError`` and is left byte-for-byte unchanged. Only then is it opened read-write, switched to
WAL and migrated (``migrations/NNNN_name.sql``, each in its own transaction).

Writing: every write goes through ``transaction()``: one writer connection behind an asyncio lock,
``BEGIN IMMEDIATE``. A deferred transaction that reads then writes fails at once with "database is
locked" when another connection writes (the busy timeout does not apply to a lock upgrade); taking
the write lock up front makes other connections wait for ``busy_timeout`` instead. Reads use a
second connection, so they see committed data only and never wait for the writer.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from tradeloop.trading.errors import OperationalError

logger = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);"""


class StoreError(OperationalError):
    """The database cannot be used as it is; the message says why and what to do."""


class SlotTaken(StoreError):
    """A cycle for this strategy and slot (or this compose_id) is already stored."""


class ProcessLock:
    """An exclusive ``flock`` on ``<db>.lock`` while strategies run from the database: a second
    process would run every strategy twice. The kernel drops the lock when the process dies."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(f"{Path(db_path).expanduser().resolve()}.lock")
        self._fd: int | None = None

    def __enter__(self) -> ProcessLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"{self.path.with_suffix('')} is in use by another tradeloop process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    folder = resources.files("tradeloop.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations must be numbered 0001, 0002, ...: {[m.name for m in found]}")
    return found


class Database:
    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Check, migrate and open ``path`` (created with its folder when missing)."""
        path = Path(path).expanduser().resolve()
        migrations = load_migrations()
        if path.exists():
            await check_existing(path, latest=migrations[-1].version)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        try:
            await _configure_writer(writer)
            await _migrate(writer, migrations)
            reader = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._write_lock:
            await self._reader.close()
            await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on the writer; rolled back on any exception."""
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
                await self._writer.execute("COMMIT")
            except BaseException:
                await _rollback(self._writer)
                raise

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._reader.execute_fetchall(sql, params)
        return next(iter(rows), None)


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys = ON")
    return conn


async def _configure_writer(conn: aiosqlite.Connection) -> None:
    rows = await conn.execute_fetchall("PRAGMA journal_mode = WAL")
    mode = next(iter(rows))[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"could not switch the database to WAL mode (got {mode})")
    # WAL + NORMAL: a commit survives a process crash (SIGKILL); only power loss may undo the last one.
    await conn.execute("PRAGMA synchronous = NORMAL")


async def _rollback(conn: aiosqlite.Connection) -> None:
    try:
        await conn.execute("ROLLBACK")
    except sqlite3.OperationalError:
        pass  # the failed statement already ended the transaction


async def _migrate(conn: aiosqlite.Connection, migrations: Iterable[Migration]) -> None:
    await conn.execute(_VERSION_TABLE)
    current = await _version(conn)
    for migration in migrations:
        if migration.version <= current:
            continue
        script = (
            f"BEGIN IMMEDIATE;\n{migration.sql}\n"
            f"INSERT INTO schema_version (version, name, applied_at) VALUES "
            f"({migration.version}, '{migration.name}', {int(time.time() * 1000)});\nCOMMIT;"
        )
        try:
            await conn.executescript(script)
        except sqlite3.Error as exc:
            await _rollback(conn)
            name = f"{migration.version:04d}_{migration.name}"
            raise StoreError(f"migration {name} failed: {exc}") from exc
        logger.info("database migrated to version %d (%s)", migration.version, migration.name)


async def _version(conn: aiosqlite.Connection) -> int:
    rows = await conn.execute_fetchall("SELECT MAX(version) FROM schema_version")
    value = next(iter(rows))[0]
    return int(value) if value is not None else 0


async def check_existing(path: Path, *, latest: int) -> None:
    """Raise ``StoreError`` unless ``path`` is a healthy tradeloop database this code can open.

    Read-only: the file is never modified (SQLite may create its ``-wal``/``-shm`` side files)."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if not header:
        return  # an empty file is an empty database
    if header != SQLITE_HEADER:
        raise StoreError(f"{path} is not a SQLite database; refusing to touch it")
    try:
        async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as conn:
            await _check_readonly(conn, path, latest)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is corrupt or unreadable ({exc}); it was not modified") from exc


async def _check_readonly(conn: aiosqlite.Connection, path: Path, latest: int) -> None:
    verdict = [row[0] for row in await conn.execute_fetchall("PRAGMA quick_check")]
    if verdict != ["ok"]:
        raise StoreError(f"{path} is corrupt ({'; '.join(verdict[:3])}); it was not modified")
    tables = {
        row[0]
        for row in await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type='table'")
    }
    if "schema_version" not in tables:
        if tables:
            raise StoreError(f"{path} is a SQLite database but not a tradeloop one; not touched")
        return
    version = await _version(conn)
    if version > latest:
        raise StoreError(
            f"{path} has schema version {version}, newer than this tradeloop knows ({latest}); "
            "upgrade tradeloop or use another --db. The file was not modified."
        )
