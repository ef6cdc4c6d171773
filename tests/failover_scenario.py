"""The failover scenario of issue 14, shared by ``tests/services/test_failover.py`` and
``bench/failover.py``: replicas (``tradeloop serve --http`` subprocesses) share paced replay
strategies on one PostgreSQL database while a random replica is SIGKILLed and restarted, again
and again; then everything is read back from the database.

What it measures (``FailoverRun``): each strategy's slots (one cycle or one recorded skip each),
duplicate slots in the store and attempted ones in the replicas' logs ("slot already ran"), the
ownership gaps from the lease log (``lease_history``), the takeover times (SIGKILL to lease taken
by another replica) and the outages (SIGKILL to the strategy's next stored cycle), and each
strategy's books against the replays of its fills (``books_audit``).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from tests import lease_history
from tests.books_audit import books_problems
from tests.replica_fleet import Fleet
from tests.slot_audit import SlotRow, slot_problems
from tradeloop.services.models import ReplaySpec
from tradeloop.services.principals import OWNER_NAME
from tradeloop.store.backend import open_store
from tradeloop.trading.models import StrategyStatus, TradingConfig, UserRequest

HOUR_S = 3600
SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "BNB-USDT")


@dataclass(frozen=True)
class Plan:
    strategies: int = 120
    replicas: int = 3
    kills: int = 10
    ttl_s: float = 3.0
    slot_s: float = 1.0
    """Wall seconds between a strategy's slots (hourly slots replayed at 3600 / slot_s)."""
    seed: int = 14
    settle_s: tuple[float, float] = (0.5, 2.0)
    """How long cycles run between a recovery and the next kill (uniform, seeded)."""
    log_level: str = "WARNING"
    """The replicas' (their logs are in the run's folder)."""

    @property
    def heartbeat_s(self) -> float:
        return self.ttl_s / 3


def request_of(i: int) -> UserRequest:
    """Strategy ``i``: one spot symbol on hourly candles, RSI thresholds that trade often."""
    config = {
        "initial_capital": 10_000 + 100 * i,
        "symbols": [SYMBOLS[i % len(SYMBOLS)]],
        "feature_intervals": ["1h"],
        "decide_interval": HOUR_S,
        "candle_lookback": 60,
        "rules": {
            "rsi_buy_below": 44 + i % 5,
            "rsi_sell_above": 52 + i % 7,
            "position_size_pct": 0.2 + (i % 3) / 10,
        },
    }
    return UserRequest(trading_config=TradingConfig.model_validate(config))


@dataclass
class Kill:
    replica: int
    at_ms: int
    recovered_s: float
    """SIGKILL to every strategy held again by a live replica."""


@dataclass
class FailoverRun:
    plan: Plan
    kills: list[Kill] = field(default_factory=list)
    cycles: int = 0
    slot_problems: dict[str, list[str]] = field(default_factory=dict)
    duplicate_slots: int = 0
    attempted_duplicates: int = 0
    books_problems: dict[str, list[str]] = field(default_factory=dict)
    ownership: lease_history.Ownership = field(default_factory=lease_history.Ownership)
    outages: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def takeovers(self) -> list[float]:
        return self.ownership.takeovers()

    def summary(self) -> str:
        p = self.plan
        gaps = [g.seconds for g in self.ownership.gaps]
        lines = [
            f"{p.replicas} replicas, {p.strategies} strategies (a slot every {p.slot_s:g} s),"
            f" lease {p.ttl_s:g} s (heartbeat {p.heartbeat_s:.2f} s), {len(self.kills)} SIGKILLs,"
            f" seed {p.seed}: {self.cycles} cycles in {self.wall_s:.0f} s",
            f"takeover (SIGKILL -> lease taken by another replica): {describe(self.takeovers)}",
            f"outage (SIGKILL -> next stored cycle of the strategy): {describe(self.outages)}",
            f"without a live owner (kills and hand-backs): {describe(gaps)}"
            f"; bound lease + heartbeat = {p.ttl_s + p.heartbeat_s:.2f} s",
            f"leases lost by a live replica: {len(self.ownership.lost_live)};"
            f" duplicate slots stored: {self.duplicate_slots},"
            f" attempted: {self.attempted_duplicates}",
            f"recovery per kill (s): {', '.join(f'{k.recovered_s:.1f}' for k in self.kills)}",
        ]
        return "\n".join(lines)


def describe(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"n={len(ordered)} min {ordered[0]:.2f} s, median {statistics.median(ordered):.2f} s,"
        f" p95 {p95:.2f} s, max {ordered[-1]:.2f} s"
    )


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str
) -> float:
    """Poll ``predicate`` (bounded); the seconds it took."""
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def seed(url: str, plan: Plan, replay_dir: Path) -> dict[str, UserRequest]:
    """The strategies, stored as running on paced replay time (the replicas take them as they
    start), and the lease log installed; their requests by id."""
    spec = ReplaySpec(data_dir=str(replay_dir.resolve()), speed=HOUR_S / plan.slot_s)
    requests = {}
    async with open_store(Path("unused"), url) as store:
        for i in range(plan.strategies):
            sid = f"fo_{i:03d}"
            await store.strategies.insert(
                strategy_id=sid,
                name=sid,
                agent_kind="default",
                request=request_of(i),
                replay=spec.model_dump(),
                owner=OWNER_NAME,
            )
            await store.strategies.transition(
                sid,
                StrategyStatus.RUNNING,
                None,
                action="start",
                allowed_from={StrategyStatus.CREATED},
            )
            requests[sid] = request_of(i)
    conn = await asyncpg.connect(url)
    try:
        await lease_history.install(conn)
    finally:
        await conn.close()
    return requests


class Watch:
    """The test's own connection to the database, for the waits between steps."""

    def __init__(self, conn: asyncpg.Connection, fleet: Fleet, ids: list[str]) -> None:
        self.conn = conn
        self.fleet = fleet
        self.ids = ids

    async def holders(self) -> dict[str, int]:
        """Strategy id -> pid of the replica holding its unexpired lease."""
        rows = await self.conn.fetch(
            "SELECT strategy_id, owner FROM leases"
            " WHERE expires_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
        )
        return {row["strategy_id"]: int(row["owner"].split(":")[-2]) for row in rows}

    def live_pids(self) -> set[int]:
        return {r.lives[-1].pid for r in self.fleet.replicas if r.alive}

    async def all_held_by_live_replicas(self) -> bool:
        held, live = await self.holders(), self.live_pids()
        return all(held.get(sid) in live for sid in self.ids)

    async def balanced(self) -> bool:
        """Every strategy held by a live replica, and every live replica holds some."""
        held, live = await self.holders(), self.live_pids()
        return all(held.get(sid) in live for sid in self.ids) and set(held.values()) == live

    async def all_cycled_since(self, since_ms: int) -> bool:
        n = await self.conn.fetchval(
            "SELECT COUNT(DISTINCT strategy_id) FROM cycles WHERE recorded_at > $1", since_ms
        )
        return int(n) == len(self.ids)


async def run(
    plan: Plan, url: str, replay_dir: Path, folder: Path, *, log: Callable[[str], None]
) -> FailoverRun:
    """The scenario on the empty database at ``url``; replica logs go to ``folder``."""
    requests = await seed(url, plan, replay_dir)
    ids = sorted(requests)
    result = FailoverRun(plan)
    rng = random.Random(plan.seed)
    fleet = Fleet(
        plan.replicas, url, replay_dir, folder, ttl_s=plan.ttl_s, log_level=plan.log_level
    )
    conn = await asyncpg.connect(url)
    start = time.monotonic()
    try:
        watch = Watch(conn, fleet, ids)
        await fleet.start()
        took = await wait_until(watch.balanced, 60, "all strategies held, by every replica")
        log(f"{plan.replicas} replicas ready, every strategy held ({took:.1f} s)")
        await wait_until(lambda: watch.all_cycled_since(0), 60, "every strategy cycled")
        for n in range(plan.kills):
            await asyncio.sleep(rng.uniform(*plan.settle_s))  # cycles run meanwhile
            victim = rng.choice(fleet.replicas)
            killed = victim.kill()
            victim.start()
            recovered = await wait_until(
                watch.all_held_by_live_replicas, 60 + plan.ttl_s, "every strategy held again"
            )
            await victim.wait_ready()  # before the next kill: never all replicas starting
            result.kills.append(Kill(victim.index, int(killed * 1000), recovered))
            log(f"kill {n + 1}: replica {victim.index}, all held again after {recovered:.1f} s")
        await asyncio.gather(*(r.wait_ready() for r in fleet.replicas))
        await wait_until(watch.balanced, 60, "every replica holds strategies again")
        since = int(time.time() * 1000)
        await wait_until(lambda: watch.all_cycled_since(since), 30, "every strategy cycles on")
    finally:
        stopped_ms = int(time.time() * 1000)
        fleet.stop()
        result.wall_s = time.monotonic() - start
        await conn.close()
    await audit(result, url, requests, fleet, until_ms=stopped_ms)
    return result


async def audit(
    result: FailoverRun,
    url: str,
    requests: dict[str, UserRequest],
    fleet: Fleet,
    *,
    until_ms: int,
) -> None:
    """Read everything back from the database (the replicas are stopped; what their shutdown
    did to the leases after ``until_ms`` is not part of the run)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT strategy_id, slot_ts, status, reason, recorded_at FROM cycles"
            " ORDER BY strategy_id, slot_ts"
        )
        result.duplicate_slots = int(
            await conn.fetchval(
                "SELECT COUNT(*) FROM (SELECT 1 FROM cycles GROUP BY strategy_id, slot_ts"
                " HAVING COUNT(*) > 1) AS twice"
            )
        )
        log = [e for e in await lease_history.events(conn) if e.at_ms <= until_ms]
    finally:
        await conn.close()
    result.cycles = len(rows)
    by_strategy: dict[str, list[SlotRow]] = {sid: [] for sid in requests}
    recorded: dict[str, list[int]] = {sid: [] for sid in requests}
    for row in rows:
        by_strategy[row["strategy_id"]].append(
            SlotRow(row["slot_ts"], row["status"], row["reason"])
        )
        recorded[row["strategy_id"]].append(int(row["recorded_at"]))
    for sid, slots in by_strategy.items():
        problems = slot_problems(slots, HOUR_S * 1000)
        if problems:
            result.slot_problems[sid] = problems
    result.attempted_duplicates = fleet.logs().count("slot already ran")

    def killed_at(owner: str) -> int | None:
        _, life = fleet.life_of(owner)
        return None if life.killed is None else int(life.killed * 1000)

    result.ownership = lease_history.ownership(log, killed_at, until_ms)
    for gap in result.ownership.gaps:
        if gap.cause == "killed":
            after = [t for t in recorded[gap.strategy_id] if t > gap.start_ms]
            if after:
                result.outages.append((min(after) - gap.start_ms) / 1000)
    async with open_store(Path("unused"), url) as store:
        for sid, request in requests.items():
            problems = await books_problems(store, sid, request)
            if problems:
                result.books_problems[sid] = problems
