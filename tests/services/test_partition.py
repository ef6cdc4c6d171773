"""Issue 14's partition test: two replicas (``tradeloop serve --http`` subprocesses) share paced
replay strategies; one reaches PostgreSQL through a TCP proxy the test controls. The proxy cuts
it (``stall``: bytes stop both ways, nothing closed; ``close``: every connection closed cleanly).
The other replica takes its strategies over within lease time + heartbeat, nobody runs a slot
twice (stored or tried), the cut replica reports not ready, and once the proxy heals it rejoins
and takes its share again. The books of every strategy equal the replays of its fills."""

from __future__ import annotations

import re
import time
from pathlib import Path

import asyncpg
import httpx2
import pytest

from tests.failover_scenario import (
    FailoverRun,
    Plan,
    Watch,
    audit,
    describe,
    seed,
    wait_until,
)
from tests.pg_cluster import Cluster
from tests.replica_fleet import Fleet, Replica
from tests.services.test_failover import LOADED_MACHINE_SLACK_S
from tests.tcp_proxy import TcpProxy

TRIED_AGAIN = re.compile(r"slot already ran strategy_id=(\S+) slot=(\d+)")


async def _not_ready(replica: Replica) -> bool:
    """``/readyz`` answers 503 (bounded: a request that hangs is not an answer)."""
    try:
        async with httpx2.AsyncClient(timeout=2.0) as http:
            return (await http.get(replica.base_url + "/readyz")).status_code == 503
    except httpx2.TransportError:
        return False


@pytest.mark.parametrize("cut", ["stall", "close"])
async def test_a_replica_cut_from_the_database_is_taken_over_runs_no_slot_twice_and_rejoins_when_healed(
    cut: str, tmp_path: Path, shared_data: Path, postgres_cluster: Cluster
) -> None:
    plan = Plan(strategies=20, replicas=2, kills=0, ttl_s=3.0)
    url = postgres_cluster.create_database()
    requests = await seed(url, plan, shared_data)
    ids = sorted(requests)
    proxy = TcpProxy(postgres_cluster.port)
    await proxy.start()
    fleet = Fleet(plan.replicas, url, shared_data, tmp_path, ttl_s=plan.ttl_s)
    cut_off, other = fleet.replicas
    cut_off.db_url = url.replace(f":{postgres_cluster.port}/", f":{proxy.port}/")
    conn = await asyncpg.connect(url)
    watch = Watch(conn, fleet, ids)

    async def held_by(replica: Replica, strategy_ids: set[str] | list[str]) -> bool:
        holders = await watch.holders()
        return all(holders.get(sid) == replica.lives[-1].pid for sid in strategy_ids)

    try:
        await fleet.start()
        await wait_until(watch.balanced, 60, "both replicas hold strategies")
        await wait_until(lambda: watch.all_cycled_since(0), 60, "every strategy cycled")
        holders = await watch.holders()
        were_cut = {sid for sid, pid in holders.items() if pid == cut_off.lives[-1].pid}
        cut_at = time.time()
        getattr(proxy, cut)()
        await wait_until(lambda: held_by(other, ids), 60, "the other replica holds them all")
        await wait_until(lambda: _not_ready(cut_off), 30, "the cut replica is not ready")
        since = int(time.time() * 1000)
        await wait_until(lambda: watch.all_cycled_since(since), 30, "the other runs them all")
        proxy.heal()
        await wait_until(watch.balanced, 60, "the healed replica takes its share again")
        await cut_off.wait_ready(60)
        since = int(time.time() * 1000)
        await wait_until(lambda: watch.all_cycled_since(since), 30, "every strategy cycles on")
    finally:
        proxy.heal()
        stopped_ms = int(time.time() * 1000)
        fleet.stop()
        await conn.close()
        await proxy.stop()

    found = FailoverRun(plan)
    await audit(found, url, requests, fleet, until_ms=stopped_ms)
    summary = f"{cut}: {found.summary()}"
    assert were_cut, summary
    assert found.slot_problems == {}, summary
    assert found.duplicate_slots == 0, summary
    # A cycle in flight when the network stalled (started while the lease was valid) finishes
    # when it heals, and the UNIQUE (strategy, slot) rule refuses it if the slot was taken over:
    # at most that one per strategy of the cut replica; none after a clean close.
    tried = [m[1] for m in TRIED_AGAIN.finditer(fleet.logs())]
    assert set(tried) <= were_cut and len(tried) == len(set(tried)), (tried, summary)
    assert cut == "stall" or tried == [], (tried, summary)
    assert found.books_problems == {}, summary
    taken = {}  # strategy -> seconds from the cut to the other replica's take
    other_owner = f":{other.lives[-1].pid}:"
    for event in found.ownership.lost_live:
        late = event.at_ms / 1000 - cut_at
        if event.strategy_id in were_cut and other_owner in event.owner and late > 0:
            taken.setdefault(event.strategy_id, late)
    print(
        f"{cut}: {len(were_cut)} strategies taken over after the cut: {describe(list(taken.values()))};"
        f" cycles in flight refused after the heal: {len(tried)}; {found.cycles} cycles"
    )
    assert set(taken) == were_cut, summary
    bound = plan.ttl_s + plan.heartbeat_s + LOADED_MACHINE_SLACK_S
    assert max(taken.values()) <= bound, (sorted(taken.values()), summary)
