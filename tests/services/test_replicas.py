"""Two replicas on one PostgreSQL database share the running strategies by leases; when one is
cut from the database it stops cycling before its leases expire and the other takes over, the
missed slots recorded as skipped, no slot run twice."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.pg_cluster import Cluster
from tests.services.helpers import ScriptedAgent, live_request, scripted
from tests.store_backends import StoreTarget, execute, fetch
from tradeloop.services.slots.leases import LeaseKeeper
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.store.postgres.db import PgDatabase
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.models import UserRequest

TTL_S = 1.5
N = 6
LOAD_S = 0.6
"""How long ``SlowLoadingAgent`` takes to load a strategy: three of them take longer than a lease."""
MISSED = re.compile(r"^missed (\d+) slot\(s\)")


@pytest.fixture
def settings(tmp_path: Path, postgres_cluster: Cluster) -> Settings:
    target = StoreTarget("postgresql", tmp_path / "unused.db", postgres_cluster.create_database())
    return target.settings(lease_ttl_s=TTL_S, shutdown_grace_s=1)


async def wait_for(predicate, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (bounded); the seconds it took."""
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[StrategyService, StrategyService]]:
    agent = ScriptedAgent([{"BTC-USDT": 100.0}], scripted([]))
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            StrategyService.open(settings, agents={"default": agent})
        )
        b = await stack.enter_async_context(
            StrategyService.open(settings, agents={"default": agent})
        )
        yield a, b


async def test_replicas_split_the_strategies_and_a_cut_one_is_taken_over_with_skips_only(
    replicas: tuple[StrategyService, StrategyService], settings: Settings
) -> None:
    a, b = replicas
    assert a.leases is not None and b.leases is not None
    ids = []
    for i in range(N):
        info = await a.create(live_request(decide_interval=1), name=f"s{i}")
        await a.start(info.strategy_id)
        ids.append(info.strategy_id)

    async def split() -> bool:
        held = (a.leases.ownership.held, b.leases.ownership.held)  # type: ignore[union-attr]
        return not held[0] & held[1] and held[0] | held[1] == set(ids) and all(held)

    await wait_for(split, 4 * TTL_S, "both replicas hold leases, all strategies held once")
    cycles_of_a: list[float] = []  # when replica a published a cycle (stored or not)
    events = a.subscribe()

    async def watch() -> None:
        while True:
            event = await events.get()
            if event.cycle is not None:
                cycles_of_a.append(time.monotonic())

    watcher = asyncio.create_task(watch())

    async def cycled(n: int) -> bool:
        rows = await fetch(settings, "SELECT COUNT(*) AS n FROM cycles")
        return rows[0]["n"] >= n

    await wait_for(lambda: cycled(2 * N), 5.0, "every strategy cycled twice or so")

    assert isinstance(a.store.rows, PgDatabase)
    a.store.rows.pool.terminate()  # replica a is cut from the database
    cut = time.monotonic()
    took = await wait_for(
        lambda: _holds_all(b, ids), TTL_S + 3 * b.leases.ownership.heartbeat_s + 2, "takeover"
    )
    await wait_for(lambda: _all_ran_after(settings, ids, took_at=time.time()), 5.0, "b cycles")
    watcher.cancel()

    assert took <= TTL_S + 2 * b.leases.ownership.heartbeat_s + 1.0
    assert cycles_of_a and all(t < cut + TTL_S for t in cycles_of_a), (cut, cycles_of_a[-3:])
    rows = await fetch(
        settings,
        "SELECT strategy_id, slot_ts, status, reason FROM cycles ORDER BY strategy_id, slot_ts",
    )
    for sid in ids:
        mine = [r for r in rows if r["strategy_id"] == sid and r["slot_ts"] is not None]
        assert len(mine) >= 3
        for prev, row in zip(mine, mine[1:], strict=False):
            gap = (row["slot_ts"] - prev["slot_ts"]) // 1000
            if row["status"] == "skipped":
                missed = int(MISSED.match(row["reason"])[1])  # type: ignore[index]
                assert gap == 1, (prev, row)  # a skip starts right after the last slot run
                nxt = mine[mine.index(row) + 1] if row is not mine[-1] else None
                if nxt is not None:
                    assert (nxt["slot_ts"] - row["slot_ts"]) // 1000 == missed
            elif prev["status"] != "skipped":
                assert gap == 1, (prev, row)  # every slot is a cycle or a recorded skip


async def _holds_all(replica: StrategyService, ids: list[str]) -> bool:
    assert replica.leases is not None
    return replica.leases.ownership.held == set(ids)


async def _all_ran_after(settings: Settings, ids: list[str], took_at: float) -> bool:
    rows = await fetch(
        settings,
        "SELECT strategy_id, MAX(slot_ts) AS last FROM cycles WHERE status = 'ok' GROUP BY strategy_id",
    )
    last = {r["strategy_id"]: r["last"] for r in rows}
    return all(last.get(sid, 0) >= (took_at - 0.5) * 1000 for sid in ids)


async def test_a_pause_given_to_another_replica_stops_the_owner_at_once_and_cycles_on_demand_go_to_the_owner(
    replicas: tuple[StrategyService, StrategyService], settings: Settings
) -> None:
    a, b = replicas
    assert a.leases is not None and b.leases is not None
    control = (await b.create(live_request(decide_interval=1), name="control")).strategy_id
    await b.start(control)  # one strategy each: their fair shares, nothing moves
    sid = (await a.create(live_request(decide_interval=1), name="one")).strategy_id
    await a.start(sid)
    assert sid in a.leases.ownership.held  # started here: taken here

    ran = await b.run_cycle_now(sid)  # relayed to the owner, which runs it
    assert ran.strategy_id == sid and sid not in b.registry.loaded
    paused_at = time.monotonic()
    await b.pause(sid)
    await wait_for(lambda: _not_loaded(a, sid), 1.0, "the owner drops the paused strategy")
    assert time.monotonic() - paused_at < a.leases.ownership.heartbeat_s  # before a heartbeat
    count = (await b.get(sid)).cycles
    after_ms = time.time() * 1000 + 1000  # the next slot of the control strategy, or later
    await wait_for(
        lambda: _cycled_after(settings, control, after_ms), 5.0, "a slot passes after the pause"
    )
    assert (await b.get(sid)).cycles == count and (await b.get(sid)).status.value == "paused"
    ran = await b.run_cycle_now(sid)  # nobody runs it now: it runs where asked
    assert ran.strategy_id == sid and (await a.get(sid)).cycles == count + 1


async def _cycled_after(settings: Settings, strategy_id: str, after_ms: float) -> bool:
    rows = await fetch(
        settings,
        "SELECT COUNT(*) AS n FROM cycles WHERE strategy_id = ? AND slot_ts > ?",
        (strategy_id, int(after_ms)),
    )
    return bool(rows[0]["n"])


async def _not_loaded(replica: StrategyService, sid: str) -> bool:
    return sid not in replica.registry.loaded


class SlowLoadingAgent(ScriptedAgent):
    """An agent whose runtimes take ``LOAD_S`` each to build (as one waiting on a slow service at
    start-up does): a replica taking several strategies over needs longer than a lease to load
    them."""

    async def _build_features_pipeline(self, request: UserRequest) -> BaseFeaturesPipeline:
        await asyncio.sleep(LOAD_S)
        return await super()._build_features_pipeline(request)


async def test_a_replica_loading_strategies_it_took_over_keeps_renewing_the_leases_it_holds(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tradeloop.services.slots.leases")
    fast = ScriptedAgent([{"BTC-USDT": 100.0}], scripted([]))
    slow = SlowLoadingAgent([{"BTC-USDT": 100.0}], scripted([]))
    async with AsyncExitStack() as stack:
        b = await stack.enter_async_context(
            StrategyService.open(settings, agents={"default": fast})
        )
        ids = []
        for i in range(N):
            info = await b.create(live_request(decide_interval=1), name=f"s{i}")
            await b.start(info.strategy_id)
            ids.append(info.strategy_id)
        a = await stack.enter_async_context(
            StrategyService.open(settings, agents={"default": slow})
        )
        assert a.leases is not None
        taken_from = time.time()

        async def a_runs_its_half() -> bool:  # b hands half back, a takes and loads them
            held = a.leases.ownership.held  # type: ignore[union-attr]
            rows = await fetch(
                settings,
                "SELECT strategy_id, COUNT(*) AS n FROM cycles WHERE recorded_at > ?"
                " GROUP BY strategy_id",
                (int(taken_from * 1000),),
            )
            cycled = {r["strategy_id"] for r in rows if r["n"] >= 3}
            return len(held) == N // 2 and held <= cycled

        await wait_for(a_runs_its_half, 6 * TTL_S + N * LOAD_S, "a cycles the half it took")

    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("lease lost")]
    assert lost == []  # nothing expired on a live replica while it was loading


async def test_a_copy_loaded_before_its_lease_was_lost_and_taken_again_runs_no_slot_until_reloaded(
    tmp_path: Path, postgres_cluster: Cluster
) -> None:
    target = StoreTarget("postgresql", tmp_path / "unused.db", postgres_cluster.create_database())
    settings = target.settings(lease_ttl_s=60, shutdown_grace_s=1)  # no heartbeat in the test
    agent = ScriptedAgent([{"BTC-USDT": 100.0}], scripted([]))
    async with StrategyService.open(settings, agents={"default": agent}) as a:
        assert isinstance(a.leases, LeaseKeeper)
        ownership = a.leases.ownership
        sid = (await a.create(live_request(decide_interval=3600), name="one")).strategy_id
        await a.start(sid)
        before = a.registry.loaded[sid]
        assert ownership.may_run(before)
        # its lease runs out (as while another replica held it), then this replica takes it again
        await execute(settings, "UPDATE leases SET expires_at = 0 WHERE strategy_id = ?", (sid,))
        assert await ownership.renew() == {sid}
        assert (await ownership.acquire())[0] == [sid]

        assert a.registry.loaded[sid] is before and not ownership.may_run(before)
        await a.slots.resume([(await a.registry.strategies.get(sid))])  # type: ignore[list-item]
        assert ownership.may_run(a.registry.loaded[sid])
