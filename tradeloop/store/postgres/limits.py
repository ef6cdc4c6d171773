"""The limits' writes on PostgreSQL (their reads are ``LimitStore``'s)."""

from __future__ import annotations

from tradeloop.store.limits import (
    DELETE_LIMITS,
    UPSERT_LIMITS,
    LimitStore,
    PrincipalLimits,
    limits_params,
)
from tradeloop.store.postgres.db import PgDatabase, dollar_params


class PgLimitStore(LimitStore):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
        self._pg = db

    async def put(self, limits: PrincipalLimits) -> None:
        async with self._pg.transaction() as conn:
            await conn.execute(dollar_params(UPSERT_LIMITS), *limits_params(limits))

    async def remove(self, principal: str) -> bool:
        async with self._pg.transaction() as conn:
            status = await conn.execute(dollar_params(DELETE_LIMITS), principal)
        return str(status) != "DELETE 0"
