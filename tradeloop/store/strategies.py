"""Stored strategies: the request that defines each one (secrets excluded), its status and reason."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from tradeloop.store.db import Database
from tradeloop.store.limits import Admission, read_holdings
from tradeloop.store.rows import RowSource
from tradeloop.trading.errors import ConfigError, InvalidTransition, NotFound
from tradeloop.trading.models import StrategyStatus, UserRequest


@dataclass(frozen=True, slots=True)
class StrategyRow:
    id: str
    owner: str
    """The principal it belongs to (``services.principals``); names are unique per owner."""
    name: str
    agent_kind: str
    request: UserRequest
    replay: dict[str, Any] | None
    status: StrategyStatus
    reason: str | None
    consecutive_failures: int
    last_slot_ts: int | None
    created_at: int
    updated_at: int


def request_to_json(request: UserRequest) -> str:
    """The request as stored: ``ExchangeConfig``'s credentials are ``exclude=True`` and never appear."""
    return request.model_dump_json()


class StrategyStore:
    """The strategy store on any backend: reads shared (portable SQL on a ``RowSource``), writes
    each backend's own (``StrategyRepository`` for SQLite, ``store.postgres``)."""

    def __init__(self, db: RowSource) -> None:
        self._db = db

    async def insert(
        self,
        *,
        strategy_id: str,
        name: str,
        agent_kind: str,
        request: UserRequest,
        replay: dict[str, Any] | None,
        owner: str,
        admit: Admission | None = None,
    ) -> StrategyRow:
        """Raises ``ConfigError`` when ``owner`` has a strategy of that name already. ``admit``
        is asked first, inside the same transaction, with what ``owner`` holds (its limits)."""
        raise NotImplementedError

    async def transition(
        self,
        strategy_id: str,
        to: StrategyStatus,
        reason: str | None,
        *,
        action: str,
        allowed_from: Collection[StrategyStatus],
    ) -> StrategyRow:
        """Move to ``to`` if the current status allows ``action``; otherwise change nothing."""
        raise NotImplementedError

    async def rename(self, strategy_id: str, name: str) -> StrategyRow:
        raise NotImplementedError

    async def set_request(self, strategy_id: str, request: UserRequest) -> StrategyRow:
        raise NotImplementedError

    async def delete(self, strategy_id: str, *, allowed_from: Collection[StrategyStatus]) -> None:
        """Delete the strategy and, by cascade, all its cycles, instructions, fills and trades."""
        raise NotImplementedError

    # Reads take ``owner``: only that principal's strategies (another's reads exactly as a
    # missing one, by the same query), or None for every owner's (the scheduler, the operator).

    async def get(self, strategy_id: str, *, owner: str | None = None) -> StrategyRow | None:
        sql, params = _owned("SELECT * FROM strategies WHERE id = ?", (strategy_id,), owner)
        row = await self._db.fetchone(sql, params)
        return None if row is None else decode_strategy(row)

    async def require(self, strategy_id: str, *, owner: str | None = None) -> StrategyRow:
        found = await self.get(strategy_id, owner=owner)
        if found is None:
            raise NotFound(f"no strategy with id {strategy_id!r}")
        return found

    async def by_name(self, name: str, *, owner: str) -> StrategyRow | None:
        row = await self._db.fetchone(
            "SELECT * FROM strategies WHERE name = ? AND owner = ?", (name, owner)
        )
        return None if row is None else decode_strategy(row)

    async def of_cycle(self, compose_id: str, *, owner: str | None = None) -> StrategyRow | None:
        """The strategy that stored the cycle ``compose_id``."""
        sql, params = _owned(
            "SELECT * FROM strategies WHERE id = (SELECT strategy_id FROM cycles"
            " WHERE compose_id = ?)",
            (compose_id,),
            owner,
        )
        row = await self._db.fetchone(sql, params)
        return None if row is None else decode_strategy(row)

    async def all(
        self, status: StrategyStatus | None = None, *, owner: str | None = None
    ) -> list[StrategyRow]:
        params: tuple[Any, ...]
        sql, params = "SELECT * FROM strategies WHERE 1 = 1", ()
        if status is not None:
            sql, params = f"{sql} AND status = ?", (status.value,)
        sql, params = _owned(sql, params, owner)
        rows = await self._db.fetchall(f"{sql} ORDER BY created_at, id", params)
        return [decode_strategy(row) for row in rows]


def _owned(sql: str, params: tuple[Any, ...], owner: str | None) -> tuple[str, tuple[Any, ...]]:
    return (sql, params) if owner is None else (f"{sql} AND owner = ?", (*params, owner))


class StrategyRepository(StrategyStore):
    """The strategy store on SQLite: every write one ``Database.write``."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._sqlite = db

    async def insert(
        self,
        *,
        strategy_id: str,
        name: str,
        agent_kind: str,
        request: UserRequest,
        replay: dict[str, Any] | None,
        owner: str,
        admit: Admission | None = None,
    ) -> StrategyRow:
        def insert(conn: sqlite3.Connection) -> None:
            if admit is not None:
                admit(read_holdings(conn, owner))
            insert_strategy(
                conn,
                strategy_id=strategy_id,
                name=name,
                agent_kind=agent_kind,
                request=request,
                replay=replay,
                owner=owner,
            )

        await self._write_named(insert, name)
        return await self.require(strategy_id)

    async def transition(
        self,
        strategy_id: str,
        to: StrategyStatus,
        reason: str | None,
        *,
        action: str,
        allowed_from: Collection[StrategyStatus],
    ) -> StrategyRow:
        reset = ", consecutive_failures = 0" if to is StrategyStatus.RUNNING else ""

        def move(conn: sqlite3.Connection) -> None:
            check_allowed(strategy_id, _status(conn, strategy_id), action, allowed_from)
            conn.execute(
                f"UPDATE strategies SET status = ?, reason = ?, updated_at = ?{reset} WHERE id = ?",
                (to.value, reason, now_ms(), strategy_id),
            )

        await self._sqlite.write(move)
        return await self.require(strategy_id)

    async def rename(self, strategy_id: str, name: str) -> StrategyRow:
        await self._write_named(lambda conn: _update(conn, strategy_id, "name = ?", name), name)
        return await self.require(strategy_id)

    async def set_request(self, strategy_id: str, request: UserRequest) -> StrategyRow:
        text = request_to_json(request)
        await self._sqlite.write(lambda conn: _update(conn, strategy_id, "request_json = ?", text))
        return await self.require(strategy_id)

    async def delete(self, strategy_id: str, *, allowed_from: Collection[StrategyStatus]) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            check_allowed(strategy_id, _status(conn, strategy_id), "delete", allowed_from)
            conn.execute("DELETE FROM strategies WHERE id = ?", (strategy_id,))

        await self._sqlite.write(delete)

    async def _write_named(self, fn: Callable[[sqlite3.Connection], None], name: str) -> None:
        try:
            await self._sqlite.write(fn)
        except sqlite3.IntegrityError as exc:
            raise ConfigError(f"a strategy named {name!r} already exists") from exc


def insert_strategy(
    conn: sqlite3.Connection,
    *,
    strategy_id: str,
    name: str,
    agent_kind: str,
    request: UserRequest,
    replay: dict[str, Any] | None,
    owner: str,
    status: StrategyStatus = StrategyStatus.CREATED,
    reason: str | None = None,
) -> None:
    """The strategy row, inside the caller's transaction; ``sqlite3.IntegrityError`` when the id or
    the owner's name is taken."""
    conn.execute(
        INSERT_STRATEGY,
        strategy_params(strategy_id, name, agent_kind, request, replay, status, reason, owner),
    )


INSERT_STRATEGY = (
    "INSERT INTO strategies (id, name, agent_kind, request_json, replay_json, status, reason,"
    " owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def strategy_params(
    strategy_id: str,
    name: str,
    agent_kind: str,
    request: UserRequest,
    replay: dict[str, Any] | None,
    status: StrategyStatus,
    reason: str | None,
    owner: str,
) -> tuple[Any, ...]:
    """The values of ``INSERT_STRATEGY`` (both backends)."""
    now = now_ms()
    return (
        strategy_id,
        name,
        agent_kind,
        request_to_json(request),
        None if replay is None else json.dumps(replay),
        status.value,
        reason,
        owner,
        now,
        now,
    )


def _status(conn: sqlite3.Connection, strategy_id: str) -> StrategyStatus:
    row = conn.execute("SELECT status FROM strategies WHERE id = ?", (strategy_id,)).fetchone()
    if row is None:
        raise NotFound(f"no strategy with id {strategy_id!r}")
    return StrategyStatus(row[0])


def _update(conn: sqlite3.Connection, strategy_id: str, assignment: str, value: Any) -> None:
    _status(conn, strategy_id)
    conn.execute(
        f"UPDATE strategies SET {assignment}, updated_at = ? WHERE id = ?",
        (value, now_ms(), strategy_id),
    )


def check_allowed(
    strategy_id: str,
    current: StrategyStatus,
    action: str,
    allowed_from: Collection[StrategyStatus],
) -> None:
    if current in allowed_from:
        return
    names = sorted(s.value for s in allowed_from)
    allowed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise InvalidTransition(
        f"cannot {action} strategy {strategy_id}: it is {current.value}, and that needs a "
        f"strategy that is {allowed}"
    )


def decode_strategy(row: Any) -> StrategyRow:
    replay = row["replay_json"]
    return StrategyRow(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        agent_kind=row["agent_kind"],
        request=UserRequest.model_validate_json(row["request_json"]),
        replay=None if replay is None else json.loads(replay),
        status=StrategyStatus(row["status"]),
        reason=row["reason"],
        consecutive_failures=row["consecutive_failures"],
        last_slot_ts=row["last_slot_ts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000
