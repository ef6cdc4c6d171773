"""Per-principal limits as stored (migration 0009): what the operator set with ``tradeloop limits``,
in the database so that every replica on a shared PostgreSQL reads the same. What the limits mean
and when they are checked is ``services.limits``; here they are only rows.

A column that is NULL is unlimited. The row of ``DEFAULT_PRINCIPAL`` stands for every principal
without a row of its own; no row at all means no limits.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeloop.store.db import Database
from tradeloop.store.rows import RowSource
from tradeloop.trading.models import StrategyStatus, UserRequest

DEFAULT_PRINCIPAL = "*"
"""The row that holds the limits of every principal without its own."""


@dataclass(frozen=True, slots=True)
class PrincipalLimits:
    """One principal's limits; None is unlimited (``allowed_venues`` None: every venue)."""

    principal: str
    max_strategies: int | None = None
    max_live_capital: Decimal | None = None
    allowed_venues: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class HeldStrategy:
    """A strategy as the limits count it."""

    id: str
    agent_kind: str
    status: StrategyStatus
    request: UserRequest


@dataclass(frozen=True, slots=True)
class Holdings:
    """What a principal holds and the limit rows that may apply to it, read together: inside the
    transaction that would add a strategy, so that what it says stays true until the commit."""

    principal: str
    own: PrincipalLimits | None
    default: PrincipalLimits | None
    strategies: tuple[HeldStrategy, ...]


Admission = Callable[[Holdings], None]
"""Decides whether a new strategy may be stored for ``Holdings.principal``: raises to refuse, and
then the insert is rolled back (``StrategyStore.insert``). Called inside the transaction; it must
not block or do I/O."""

SELECT_LIMITS = "SELECT * FROM principal_limits WHERE principal = ?"
SELECT_HELD = "SELECT id, agent_kind, status, request_json FROM strategies WHERE owner = ?"
SELECT_APPLICABLE = "SELECT * FROM principal_limits WHERE principal IN (?, ?)"
UPSERT_LIMITS = (
    "INSERT INTO principal_limits"
    " (principal, max_strategies, max_live_capital, allowed_venues, updated_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (principal) DO UPDATE SET"
    " max_strategies = excluded.max_strategies, max_live_capital = excluded.max_live_capital,"
    " allowed_venues = excluded.allowed_venues, updated_at = excluded.updated_at"
)
DELETE_LIMITS = "DELETE FROM principal_limits WHERE principal = ?"


def limits_params(limits: PrincipalLimits) -> tuple[Any, ...]:
    """The values of ``UPSERT_LIMITS`` (both backends)."""
    capital, venues = limits.max_live_capital, limits.allowed_venues
    return (
        limits.principal,
        limits.max_strategies,
        None if capital is None else str(capital),
        None if venues is None else json.dumps(list(venues)),
        time.time_ns() // 1_000_000,
    )


def decode_limits(row: Any) -> PrincipalLimits:
    capital, venues = row["max_live_capital"], row["allowed_venues"]
    return PrincipalLimits(
        principal=row["principal"],
        max_strategies=row["max_strategies"],
        max_live_capital=None if capital is None else Decimal(capital),
        allowed_venues=None if venues is None else tuple(json.loads(venues)),
    )


def holdings_of(principal: str, limit_rows: Iterable[Any], held_rows: Iterable[Any]) -> Holdings:
    """``Holdings`` from the rows of ``SELECT_APPLICABLE`` and ``SELECT_HELD`` (both backends)."""
    rows = {limits.principal: limits for limits in map(decode_limits, limit_rows)}
    held = (
        HeldStrategy(
            row["id"],
            row["agent_kind"],
            StrategyStatus(row["status"]),
            UserRequest.model_validate_json(row["request_json"]),
        )
        for row in held_rows
    )
    return Holdings(principal, rows.get(principal), rows.get(DEFAULT_PRINCIPAL), tuple(held))


def read_holdings(conn: sqlite3.Connection, principal: str) -> Holdings:
    """``principal``'s holdings inside the caller's SQLite transaction (``BEGIN IMMEDIATE`` holds
    every other writer off until it ends)."""
    return holdings_of(
        principal,
        conn.execute(SELECT_APPLICABLE, (principal, DEFAULT_PRINCIPAL)).fetchall(),
        conn.execute(SELECT_HELD, (principal,)).fetchall(),
    )


class LimitStore:
    """The limits on any backend: reads shared (portable SQL), writes each backend's own
    (``SqliteLimitStore``, ``store.postgres.limits``)."""

    def __init__(self, db: RowSource) -> None:
        self._db = db

    async def get(self, principal: str) -> PrincipalLimits | None:
        """The principal's own row (None: it has none, the default row applies)."""
        row = await self._db.fetchone(SELECT_LIMITS, (principal,))
        return None if row is None else decode_limits(row)

    async def all(self) -> list[PrincipalLimits]:
        """Every row, the default first (``*`` sorts before any name)."""
        rows = await self._db.fetchall("SELECT * FROM principal_limits ORDER BY principal")
        return [decode_limits(row) for row in rows]

    async def holdings(self, principal: str) -> Holdings:
        """``principal``'s holdings as committed now (for checks that need no transaction)."""
        return holdings_of(
            principal,
            await self._db.fetchall(SELECT_APPLICABLE, (principal, DEFAULT_PRINCIPAL)),
            await self._db.fetchall(SELECT_HELD, (principal,)),
        )

    async def put(self, limits: PrincipalLimits) -> None:
        """Store ``limits`` as the principal's whole row (replacing the one it had)."""
        raise NotImplementedError

    async def remove(self, principal: str) -> bool:
        """Delete the principal's row (the default applies again); False when it had none."""
        raise NotImplementedError


class SqliteLimitStore(LimitStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._sqlite = db

    async def put(self, limits: PrincipalLimits) -> None:
        params = limits_params(limits)
        await self._sqlite.write(lambda conn: conn.execute(UPSERT_LIMITS, params))

    async def remove(self, principal: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            return conn.execute(DELETE_LIMITS, (principal,)).rowcount > 0

        return await self._sqlite.write(delete)
