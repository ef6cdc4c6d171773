"""Leases on PostgreSQL: every running strategy held by at most one replica, taken over only
after its lease expired, never renewed once lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pg_cluster import Cluster
from tests.store_backends import StoreTarget
from tradeloop.store.backend import Store
from tradeloop.store.postgres.db import PgDatabase
from tradeloop.store.postgres.leases import PgLeases
from tradeloop.trading.models import StrategyStatus, TradingConfig, UserRequest

TTL_MS = 15_000
REQUEST = UserRequest(trading_config=TradingConfig(initial_capital=1000, symbols=["BTC-USDT"]))


@pytest.fixture
async def pg(tmp_path: Path, postgres_cluster: Cluster) -> AsyncIterator[tuple[Store, PgLeases]]:
    target = StoreTarget("postgresql", tmp_path / "unused.db", postgres_cluster.create_schema())
    async with target.open() as store:
        assert isinstance(store.rows, PgDatabase)
        yield store, PgLeases(store.rows)


async def running(
    store: Store, n: int, status: StrategyStatus = StrategyStatus.RUNNING
) -> list[str]:
    ids = []
    for i in range(n):
        sid = f"s_{status.value}_{i:03d}"
        await store.strategies.insert(
            strategy_id=sid,
            name=sid,
            agent_kind="default",
            request=REQUEST,
            replay=None,
            owner="~owner",
        )
        if status is not StrategyStatus.CREATED:
            await store.strategies.transition(
                sid, status, None, action="start", allowed_from={StrategyStatus.CREATED}
            )
        ids.append(sid)
    return ids


async def test_replicas_taking_at_once_share_the_running_strategies_with_no_strategy_twice(
    pg: tuple[Store, PgLeases],
) -> None:
    store, leases = pg
    ids = await running(store, 30)
    await running(store, 3, StrategyStatus.PAUSED)
    taken = await asyncio.gather(*(leases.take(f"r{i}", TTL_MS, 12) for i in range(3)))
    flat = [sid for part in taken for sid in part]
    assert sorted(flat) == ids  # all 30 running ones, none twice, no paused one
    assert {lease.strategy_id: lease.owner for lease in await leases.all()} == {
        sid: f"r{i}" for i, part in enumerate(taken) for sid in part
    }


async def test_a_held_lease_is_not_taken_and_an_expired_one_is_taken_over_and_lost_to_its_owner(
    pg: tuple[Store, PgLeases],
) -> None:
    store, leases = pg
    ids = await running(store, 2)
    assert await leases.take("a", TTL_MS, 1) == ids[:1]
    assert await leases.take("b", TTL_MS, 10) == ids[1:]  # a's is live
    assert await leases.renew("a", ids, TTL_MS) == {ids[0]}  # only its own
    assert await leases.renew("a", ids[:1], 0) == {ids[0]}  # renewed to expire right now
    assert await leases.take("b", TTL_MS, 10) == ids[:1]  # expired: taken over
    assert await leases.renew("a", ids[:1], TTL_MS) == set()  # lost, never renewed back
    assert {(lease.strategy_id, lease.owner) for lease in await leases.all()} == {
        (ids[0], "b"),
        (ids[1], "b"),
    }


async def test_the_fair_share_splits_running_strategies_over_replicas_alive_and_release_frees(
    pg: tuple[Store, PgLeases],
) -> None:
    store, leases = pg
    ids = await running(store, 7)
    await leases.present("a", TTL_MS)
    assert await leases.fair_share("a") == 7
    await leases.present("b", TTL_MS)
    await leases.present("gone", 0)  # its row expired: not counted
    await leases.take("a", TTL_MS, 7)
    assert await leases.fair_share("b") == 4  # ceil(7 / 2)
    await leases.release("a", ids[:4])
    assert await leases.take("b", TTL_MS, 4) == ids[:4]
    assert await leases.renew("a", ids, TTL_MS) == set(ids[4:])
