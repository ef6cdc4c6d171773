"""Opening the database: migrations, refusing bad files without touching them, one writer."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from tradeloop.store.db import Database, ProcessLock, StoreError, load_migrations


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_new_database_is_created_in_wal_mode_at_the_latest_schema_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "t.db"
    db = await Database.open(path)
    try:
        mode = await db.fetchone("PRAGMA journal_mode")
        versions = await db.fetchall("SELECT version, name FROM schema_version ORDER BY version")
    finally:
        await db.close()
    assert mode[0] == "wal"
    assert [(r[0], r[1]) for r in versions] == [(m.version, m.name) for m in load_migrations()]


async def test_reopening_a_database_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await (await Database.open(path)).close()
    db = await Database.open(path)
    try:
        rows = await db.fetchall("SELECT COUNT(*) FROM schema_version")
    finally:
        await db.close()
    assert rows[0][0] == len(load_migrations())


def newer_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at)")
    conn.execute("INSERT INTO schema_version VALUES (999, 'from_the_future', 0)")
    conn.commit()
    conn.close()


async def test_a_database_from_a_newer_tradeloop_is_refused_and_left_byte_for_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "newer.db"
    newer_database(path)
    before = digest_of(path)
    with pytest.raises(StoreError, match=r"schema version 999, newer than this tradeloop knows"):
        await Database.open(path)
    assert digest_of(path) == before


@pytest.mark.parametrize(
    "content",
    [
        b"this is a text file, not a database\n" * 50,
        b"SQLite format 3\x00" + bytes(range(256)) * 16,
    ],
    ids=["not-sqlite", "corrupt-sqlite"],
)
async def test_a_file_that_is_not_a_healthy_database_is_refused_and_left_byte_for_byte(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a SQLite database|corrupt"):
        await Database.open(path)
    assert path.read_bytes() == content


async def test_a_truncated_tradeloop_database_is_refused_and_left_byte_for_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    db = await Database.open(path)
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE filler (x TEXT)")
        await conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 1000,)] * 200)
    await db.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = digest_of(path)
    with pytest.raises(StoreError, match="corrupt"):
        await Database.open(path)
    assert digest_of(path) == before


async def test_a_sqlite_database_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    before = digest_of(path)
    with pytest.raises(StoreError, match="not a tradeloop one"):
        await Database.open(path)
    assert digest_of(path) == before


def test_a_second_process_lock_on_the_same_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with ProcessLock(path), pytest.raises(StoreError, match="in use by another tradeloop process"):
        with ProcessLock(path):
            pass
    with ProcessLock(path):
        pass  # released on exit


async def test_read_then_write_transactions_from_two_connections_never_fail_as_locked(
    tmp_path: Path,
) -> None:
    """Two writers (as two processes would have): BEGIN IMMEDIATE makes the second wait."""
    path = tmp_path / "t.db"
    first, second = await Database.open(path), await Database.open(path)
    async with first.transaction() as conn:
        await conn.execute("CREATE TABLE counter (n INTEGER)")
        await conn.execute("INSERT INTO counter VALUES (0)")

    async def increment(db: Database) -> None:
        async with db.transaction() as conn:
            rows = await conn.execute_fetchall("SELECT n FROM counter")
            await conn.execute("UPDATE counter SET n = ?", (next(iter(rows))[0] + 1,))

    try:
        await asyncio.gather(*(increment(db) for db in (first, second) for _ in range(100)))
        value = await first.fetchone("SELECT n FROM counter")
    finally:
        await first.close()
        await second.close()
    assert value[0] == 200


async def test_a_failed_transaction_is_rolled_back_whole(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER UNIQUE)")
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                await conn.execute("INSERT INTO t VALUES (1)")
        rows = await db.fetchall("SELECT COUNT(*) FROM t")
    finally:
        await db.close()
    assert rows[0][0] == 0
