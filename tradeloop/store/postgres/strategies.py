"""The strategy store's writes on PostgreSQL (its reads are ``StrategyStore``'s): a status change
locks the row (``FOR UPDATE``) so two replicas cannot both move it from the same status."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg

from tradeloop.store.limits import Admission
from tradeloop.store.postgres.db import PgDatabase, dollar_params
from tradeloop.store.postgres.limits import read_locked_holdings
from tradeloop.store.strategies import (
    INSERT_STRATEGY,
    StrategyRow,
    StrategyStore,
    check_allowed,
    now_ms,
    request_to_json,
    strategy_params,
)
from tradeloop.trading.errors import ConfigError, NotFound
from tradeloop.trading.models import StrategyStatus, UserRequest

CHANGED = "tradeloop_strategy_changed"
"""The NOTIFY channel a status, config or name change is announced on (payload: the id), so the
replica running the strategy hears a command given to another at once."""


class PgStrategyRepository(StrategyStore):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
        self._pg = db

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
        params = strategy_params(
            strategy_id, name, agent_kind, request, replay, StrategyStatus.CREATED, None, owner
        )
        try:
            async with self._pg.transaction() as conn:
                if admit is not None:
                    admit(await read_locked_holdings(conn, owner))
                await conn.execute(dollar_params(INSERT_STRATEGY), *params)
        except asyncpg.UniqueViolationError as exc:
            raise ConfigError(f"a strategy named {name!r} already exists") from exc
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
        async with self._pg.transaction() as conn:
            check_allowed(
                strategy_id, await _locked_status(conn, strategy_id), action, allowed_from
            )
            await conn.execute(
                f"UPDATE strategies SET status = $1, reason = $2, updated_at = $3{reset}"
                " WHERE id = $4",
                to.value,
                reason,
                now_ms(),
                strategy_id,
            )
            await _announce(conn, strategy_id)
        return await self.require(strategy_id)

    async def rename(self, strategy_id: str, name: str) -> StrategyRow:
        try:
            await self._update(strategy_id, "name", name)
        except asyncpg.UniqueViolationError as exc:
            raise ConfigError(f"a strategy named {name!r} already exists") from exc
        return await self.require(strategy_id)

    async def set_request(self, strategy_id: str, request: UserRequest) -> StrategyRow:
        await self._update(strategy_id, "request_json", request_to_json(request))
        return await self.require(strategy_id)

    async def delete(self, strategy_id: str, *, allowed_from: Collection[StrategyStatus]) -> None:
        async with self._pg.transaction() as conn:
            check_allowed(
                strategy_id, await _locked_status(conn, strategy_id), "delete", allowed_from
            )
            await conn.execute("DELETE FROM strategies WHERE id = $1", strategy_id)
            await _announce(conn, strategy_id)

    async def _update(self, strategy_id: str, column: str, value: Any) -> None:
        async with self._pg.transaction() as conn:
            await _locked_status(conn, strategy_id)
            await conn.execute(
                f"UPDATE strategies SET {column} = $1, updated_at = $2 WHERE id = $3",
                value,
                now_ms(),
                strategy_id,
            )
            await _announce(conn, strategy_id)


async def _locked_status(conn: asyncpg.Connection, strategy_id: str) -> StrategyStatus:
    status = await conn.fetchval(
        "SELECT status FROM strategies WHERE id = $1 FOR UPDATE", strategy_id
    )
    if status is None:
        raise NotFound(f"no strategy with id {strategy_id!r}")
    return StrategyStatus(status)


async def _announce(conn: asyncpg.Connection, strategy_id: str) -> None:
    """Delivered to the listening replicas when the transaction commits (never if it rolls back)."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANGED, strategy_id)
