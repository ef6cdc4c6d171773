"""Move an installation from a SQLite file into an empty PostgreSQL database, row for row.

Every table is copied with its ids (so cycle order, and every fold over "the cycles after id X",
is the same), in one PostgreSQL transaction: the copy lands whole or not at all. Rows SQLite
wrote before migrations 0003/0005 (JSON text) are packed on the way, as PostgreSQL's columns hold
bytes only; an old cycle's feature list becomes payload references like a new cycle's. Floats go
to NUMERIC columns as the Decimal of their shortest repr. ``verify`` then compares row counts per
table and, per strategy, the latest stored ledger and its equity (exact Decimals).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeloop.store.backend import TABLES, Store, row_counts
from tradeloop.store.cycles import FEATURES_BEFORE_0003
from tradeloop.store.db import StoreError
from tradeloop.store.payloads import content_hash, join_hashes, pack
from tradeloop.store.postgres.cycles import exact
from tradeloop.store.postgres.db import PgDatabase

_ORDER = {
    "payloads": "strategy_id, hash",
    "live_intents": "rowid",
    "strategies": "created_at, id",
    "leases": "strategy_id",
    "replicas": "id",
    "principal_limits": "principal",
}
_PACKED = ("raw", "portfolio", "ledger", "summary")
_IDENTITIES = {
    "cycles": "id",
    "instructions": "id",
    "guard_notes": "id",
    "tx_results": "id",
    "trades": "id",
    "live_intents": "rowid",
}


@dataclass(frozen=True, slots=True)
class StrategyCheck:
    strategy_id: str
    name: str
    cycles: int
    equity_from: Decimal | None
    equity_to: Decimal | None
    same_ledger: bool


@dataclass(frozen=True, slots=True)
class CopyReport:
    counts_from: dict[str, int]
    counts_to: dict[str, int]
    legacy_cycles: int
    """Cycles stored as JSON text (before migration 0003) whose features became payloads."""
    strategies: list[StrategyCheck]

    @property
    def ok(self) -> bool:
        counts = all(
            self.counts_from[t] == self.counts_to[t] or (t == "payloads" and self.legacy_cycles > 0)
            for t in TABLES
        )
        return counts and all(s.same_ledger for s in self.strategies)


async def copy_into(source: Store, target: Store) -> int:
    """Copy every row of ``source`` into the empty PostgreSQL ``target``; returns how many legacy
    cycles were converted. Raises ``StoreError`` when the target holds data."""
    pg = target.rows
    if not isinstance(pg, PgDatabase):
        raise StoreError(f"{target.label} is not a PostgreSQL database: copy into postgresql://")
    held = await row_counts(target)
    if any(held.values()):
        tables = ", ".join(f"{t} {n}" for t, n in held.items() if n)
        raise StoreError(f"{target.label} is not empty ({tables}); copy into an empty database")
    legacy = 0
    async with pg.transaction() as conn:
        for table in TABLES:
            rows = await source.rows.fetchall(_select(table))
            if not rows:
                continue
            columns = list(rows[0].keys())
            values = [dict(zip(columns, row, strict=True)) for row in rows]
            if table == "cycles":
                payloads: list[tuple[Any, ...]] = []
                for value in values:
                    legacy += _pack_legacy(value, payloads)
                if payloads:
                    await conn.executemany(
                        "INSERT INTO payloads (strategy_id, hash, body) VALUES ($1, $2, $3)"
                        " ON CONFLICT DO NOTHING",
                        payloads,
                    )
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            await conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                [exact([v[c] for c in columns]) for v in values],
            )
        for table, column in _IDENTITIES.items():
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" GREATEST((SELECT MAX({column}) FROM {table}), 1))"
            )
    return legacy


async def verify(source: Store, target: Store, legacy_cycles: int = 0) -> CopyReport:
    checks = []
    for row in await source.strategies.all():
        before = await source.cycles.latest_ledger(row.id)
        after = await target.cycles.latest_ledger(row.id)
        checks.append(
            StrategyCheck(
                strategy_id=row.id,
                name=row.name,
                cycles=await target.cycles.count(row.id),
                equity_from=None if before is None else before[0].equity,
                equity_to=None if after is None else after[0].equity,
                same_ledger=before == after,
            )
        )
    return CopyReport(await row_counts(source), await row_counts(target), legacy_cycles, checks)


def _select(table: str) -> str:
    columns = "rowid, *" if table == "live_intents" else "*"
    return f"SELECT {columns} FROM {table} ORDER BY {_ORDER.get(table, 'id')}"


def _pack_legacy(cycle: dict[str, Any], payloads: list[tuple[Any, ...]]) -> int:
    """Pack a cycle's JSON text columns (rows from before 0003/0005) in place; 1 if its features
    were a JSON list (they become payloads, added to ``payloads``), else 0."""
    for column in _PACKED:
        if isinstance(cycle[column], str):
            cycle[column] = pack(cycle[column].encode())
    if not isinstance(cycle["features"], str):
        return 0
    hashes: list[bytes] = []
    for vector in FEATURES_BEFORE_0003.validate_json(cycle["features"]):
        data = vector.model_dump_json().encode()
        hashes.append(content_hash(data))
        payloads.append((cycle["strategy_id"], hashes[-1], pack(data)))
    cycle["features"] = join_hashes(hashes)
    return 1
