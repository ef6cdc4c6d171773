"""``tradeloop db migrate`` and ``tradeloop db copy`` as a user runs them (real subprocesses, a
real SQLite installation made by ``tradeloop run``, the session's throwaway PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg

from tests.pg_cluster import Cluster
from tests.services.helpers import perpetual_request, replay_request
from tests.store_backends import StoreTarget, stored_ledger_mismatches
from tradeloop.store.backend import TABLES

REPO = Path(__file__).resolve().parents[2]
LATEST = len(
    list((REPO / "tradeloop/store/postgres/migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))
)
"""The number of PostgreSQL migrations shipped (they are numbered 1..LATEST)."""


def tradeloop(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    return subprocess.run(
        [sys.executable, "-m", "tradeloop", "--log-level", "WARNING", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        timeout=300,
    )


def pg_counts(url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        conn = await asyncpg.connect(url)
        try:
            return {t: await conn.fetchval(f"SELECT COUNT(*) FROM {t}") for t in TABLES}
        finally:
            await conn.close()

    return asyncio.run(count())


def test_db_migrate_brings_an_empty_postgresql_database_to_the_latest_version_once(
    postgres_cluster: Cluster,
) -> None:
    url = postgres_cluster.create_database()
    first, again = tradeloop("db", "migrate", "--db", url), tradeloop("db", "migrate", "--db", url)
    for run in (first, again):
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().endswith(f"schema version {LATEST} (postgresql)")
    applied = postgres_cluster.psql("SELECT version FROM schema_version ORDER BY version", url)
    assert applied.split() == [str(n) for n in range(1, LATEST + 1)]
    assert pg_counts(url) == dict.fromkeys(TABLES, 0)


def test_db_migrate_refuses_a_postgresql_database_that_is_not_tradeloops(
    postgres_cluster: Cluster,
) -> None:
    url = postgres_cluster.create_database()
    name = url.rsplit("/", 1)[1]
    postgres_cluster.psql("CREATE TABLE invoices (id int)", url)
    run = tradeloop("db", "migrate", "--db", url)
    assert run.returncode == 2
    assert "not a tradeloop database; not touched" in run.stderr and name in run.stderr
    assert (
        postgres_cluster.psql(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'", url
        ).strip()
        == "1"
    )


def test_db_copy_moves_a_sqlite_installation_into_postgresql_with_equal_rows_and_equity(
    tmp_path: Path, shared_data: Path, postgres_cluster: Cluster
) -> None:
    db = tmp_path / "home.db"
    for i, request in enumerate(
        (replay_request(strategy_name="spot"), perpetual_request(strategy_name="perp"))
    ):
        config = tmp_path / f"s{i}.json"
        config.write_text(request.model_dump_json())
        ran = tradeloop(
            "run", "--config", str(config), "--db", str(db), "--replay", str(shared_data),
            "--max-cycles", "12",
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    with sqlite3.connect(db) as conn:
        expected = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert expected["cycles"] == 24 and expected["tx_results"] > 0
    url = postgres_cluster.create_database()

    copied = tradeloop("db", "copy", "--from", f"sqlite://{db}", "--to", url)

    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.splitlines()[-1] == "verified: rows and equity match"
    assert pg_counts(url) == expected
    lines = [line for line in copied.stdout.splitlines() if line.startswith(("spot", "perp"))]
    assert len(lines) == 2 and all(
        line.split()[1] == "12" and line.endswith("yes") for line in lines
    )

    async def replayed() -> int:
        async with StoreTarget("postgresql", tmp_path / "unused.db", url).open() as store:
            return sum(
                [
                    await stored_ledger_mismatches(store, row.id, row.request)
                    for row in await store.strategies.all()
                ]
            )

    assert asyncio.run(replayed()) == 0

    again = tradeloop("db", "copy", "--from", str(db), "--to", url)
    assert again.returncode == 2 and "is not empty (strategies 2" in again.stderr
    assert pg_counts(url) == expected


def test_db_copy_refuses_a_target_that_is_not_postgresql(tmp_path: Path) -> None:
    run = tradeloop("db", "copy", "--from", str(tmp_path / "a.db"), "--to", str(tmp_path / "b.db"))
    assert run.returncode == 2 and "--to must be a postgresql://... URL" in run.stderr
