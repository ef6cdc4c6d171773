"""Leases on PostgreSQL: each running strategy is run by exactly one live replica.

``take`` claims running strategies that nobody holds, or whose lease expired, locking their
strategy rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` so that replicas taking at the same time
never wait on each other nor take the same strategy; ``renew`` extends only leases still held and
unexpired (one that expired may have been taken: it is lost, never silently renewed). All times
are the database's clock in ms, so replicas' clocks need not agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from tradeloop.store.leases import Lease
from tradeloop.store.postgres.db import PgDatabase
from tradeloop.store.postgres.strategies import CHANGED

_NOW = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
_TAKE = f"""
WITH free AS (
    SELECT s.id FROM strategies s
    WHERE s.status = 'running' AND ($4::text IS NULL OR s.id = $4)
      AND NOT EXISTS (
          SELECT 1 FROM leases l
          WHERE l.strategy_id = s.id AND l.expires_at > {_NOW}
      )
    ORDER BY s.created_at, s.id
    LIMIT $3
    FOR UPDATE OF s SKIP LOCKED
)
INSERT INTO leases (strategy_id, owner, expires_at, taken_at)
SELECT free.id, $1, {_NOW} + $2, {_NOW} FROM free
ON CONFLICT (strategy_id) DO UPDATE
    SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, taken_at = EXCLUDED.taken_at
    WHERE leases.expires_at <= EXCLUDED.taken_at
RETURNING strategy_id"""
_RENEW = f"""UPDATE leases SET expires_at = {_NOW} + $2
WHERE owner = $1 AND expires_at > {_NOW} AND strategy_id = ANY($3::text[])
  AND strategy_id IN (SELECT id FROM strategies WHERE status = 'running')
RETURNING strategy_id"""


class PgLeases:
    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def take(self, owner: str, ttl_ms: int, limit: int, only: str | None = None) -> list[str]:
        """Up to ``limit`` running strategies nobody holds (or whose lease expired), now
        ``owner``'s for ``ttl_ms``; with ``only``, that strategy if it is free."""
        if limit <= 0:
            return []
        async with self._db.transaction() as conn:
            rows = await conn.fetch(_TAKE, owner, ttl_ms, limit, only)
        return [row[0] for row in rows]

    async def renew(self, owner: str, strategy_ids: Iterable[str], ttl_ms: int) -> set[str]:
        """Extend ``owner``'s unexpired leases among ``strategy_ids`` of running strategies;
        returns those it still holds (the rest are lost: expired, taken over, or their strategy
        paused, stopped or deleted, by a command given to any replica)."""
        ids = list(strategy_ids)
        if not ids:
            return set()
        async with self._db.transaction() as conn:
            rows = await conn.fetch(_RENEW, owner, ttl_ms, ids)
        return {row[0] for row in rows}

    async def release(self, owner: str, strategy_ids: Iterable[str]) -> None:
        """Give ``owner``'s leases back at once (a clean shutdown, a strategy paused here)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM leases WHERE owner = $1 AND strategy_id = ANY($2::text[])",
                owner,
                list(strategy_ids),
            )

    async def owner_of(self, strategy_id: str) -> str | None:
        """The replica holding an unexpired lease of ``strategy_id``, if any."""
        row = await self._db.fetchone(
            f"SELECT owner FROM leases WHERE strategy_id = ? AND expires_at > {_NOW}",
            (strategy_id,),
        )
        return None if row is None else str(row[0])

    async def listen(self, on_change: Callable[[str], None]) -> Callable[[], Awaitable[None]]:
        """Call ``on_change(strategy_id)`` whenever a replica commits a change to a strategy
        (``CHANGED``, sent by ``PgStrategyRepository``); returns the function that stops it."""
        return await self._db.listen({CHANGED: on_change})

    async def all(self) -> list[Lease]:
        rows = await self._db.fetchall(
            "SELECT strategy_id, owner, expires_at FROM leases ORDER BY strategy_id"
        )
        return [Lease(row[0], row[1], int(row[2])) for row in rows]

    async def of(self, strategy_ids: Iterable[str]) -> dict[str, Lease]:
        """The lease rows of ``strategy_ids`` (expired ones too: their owner stopped renewing)."""
        rows = await self._db.fetchall(
            "SELECT strategy_id, owner, expires_at FROM leases WHERE strategy_id = ANY(?::text[])",
            (list(strategy_ids),),
        )
        return {row[0]: Lease(row[0], row[1], int(row[2])) for row in rows}

    async def present(self, owner: str, ttl_ms: int) -> None:
        """``owner`` is alive for ``ttl_ms`` more (counted in everyone's fair share)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO replicas (id, seen_until) VALUES ($1, {_NOW} + $2)"
                " ON CONFLICT (id) DO UPDATE SET seen_until = EXCLUDED.seen_until",
                owner,
                ttl_ms,
            )
            await conn.execute(f"DELETE FROM replicas WHERE seen_until < {_NOW} - 60000")

    async def absent(self, owner: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM replicas WHERE id = $1", owner)

    async def fair_share(self, owner: str) -> int:
        """How many running strategies ``owner`` should hold: an even split (rounded up) over
        the replicas alive, ``owner`` included."""
        row = await self._db.fetchone(
            f"SELECT (SELECT COUNT(*) FROM strategies WHERE status = 'running'),"
            f" (SELECT COUNT(*) FROM replicas WHERE seen_until > {_NOW} AND id <> ?)",
            (owner,),
        )
        running, others = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        return -(-running // (others + 1))
