"""Cycles on demand asked of a replica that does not run the strategy run on the replica that
does, exactly once, and its answer comes back to the caller; an owner that never answers gives a
clear error saying whether the command ran, and nothing is ever run twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import ScriptedComposer
from tests.pg_cluster import Cluster
from tests.services.helpers import ScriptedAgent, live_request
from tests.store_backends import StoreTarget, fetch
from tradeloop.services.slots.relay import (
    CommandNotTaken,
    CommandRelay,
    CommandUnanswered,
    OwnedElsewhere,
)
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.store.backend import open_store
from tradeloop.store.postgres.commands import PgCommands
from tradeloop.store.postgres.db import PgDatabase
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    StrategyStatus,
    TradeAction,
    TradeSide,
    TxStatus,
)

TTL_S = 3.0
WAIT_S = 1.5
DAY = 86_400  # no scheduled slot fires while a test runs its cycles on demand
BUY = [[("BTC-USDT", TradeSide.BUY, 1.0, TradeAction.OPEN_LONG)]]


class GatedComposer(BaseComposer):
    """Decides nothing until ``gate`` opens: an owner busy (or hung) in the middle of a cycle."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate

    async def compose(self, context: ComposeContext) -> ComposeResult:
        await self.gate.wait()
        return ComposeResult(rationale="waited")


@pytest.fixture
def settings(tmp_path: Path, postgres_cluster: Cluster) -> Settings:
    target = StoreTarget("postgresql", tmp_path / "unused.db", postgres_cluster.create_database())
    return target.settings(lease_ttl_s=TTL_S, shutdown_grace_s=1, command_wait_s=WAIT_S)


@pytest.fixture
def gate() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def replicas(
    settings: Settings, gate: asyncio.Event
) -> AsyncIterator[tuple[StrategyService, StrategyService]]:
    prices = [{"BTC-USDT": 100.0}]
    agents = {
        "default": ScriptedAgent(prices, lambda: ScriptedComposer(BUY)),
        "gated": ScriptedAgent(prices, lambda: GatedComposer(gate)),
    }
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(StrategyService.open(settings, agents=agents))
        b = await stack.enter_async_context(StrategyService.open(settings, agents=agents))
        yield a, b
        gate.set()  # let a cycle held by the gate finish before the replicas close


async def running_on(replica: StrategyService, agent_kind: str = "default") -> str:
    info = await replica.create(live_request(decide_interval=DAY), agent_kind=agent_kind)
    await replica.start(info.strategy_id)
    assert info.strategy_id in replica.leases.ownership.held  # started here: taken here
    return info.strategy_id


def replica(service: StrategyService) -> str:
    return service.leases.ownership.replica  # type: ignore[attr-defined]


async def commands(settings: Settings) -> list[dict[str, Any]]:
    return await fetch(
        settings, "SELECT kind, sender, target, state FROM commands ORDER BY sent_at"
    )


async def test_run_cycle_now_given_to_another_replica_runs_once_on_the_owner_and_returns_its_result(
    replicas: tuple[StrategyService, StrategyService], settings: Settings
) -> None:
    a, b = replicas
    sid = await running_on(a)
    heard = a.subscribe()

    result = await b.run_cycle_now(sid)

    owners_own = (await heard.get()).cycle  # what the owner's run_cycle_now returned there
    assert result == owners_own
    assert result.strategy_id == sid
    assert [(tx.status, tx.filled_qty) for tx in result.tx_results] == [(TxStatus.FILLED, 1.0)]
    assert sid not in b.registry.loaded  # b never ran it
    assert (await b.get(sid)).cycles == 1
    assert (await b.get_portfolio(sid)).positions["BTC-USDT"].quantity == 1.0
    assert await commands(settings) == [
        {"kind": "run_cycle_now", "sender": replica(b), "target": replica(a), "state": "done"}
    ]


async def test_close_position_and_stop_closing_given_to_another_replica_run_on_the_owner(
    replicas: tuple[StrategyService, StrategyService], settings: Settings
) -> None:
    a, b = replicas
    sid = await running_on(a)
    await b.run_cycle_now(sid)  # buys 1 BTC on the owner

    closed = await b.close_position(sid, "btc/usdt")
    assert [(tx.status, tx.side, tx.filled_qty) for tx in closed.tx_results] == [
        (TxStatus.FILLED, TradeSide.SELL, 1.0)
    ]
    assert (await b.get_portfolio(sid)).positions == {}

    await b.run_cycle_now(sid)  # the script is done: decides nothing
    outcome = await b.stop_closing(sid, close_positions=True)
    assert outcome.info.status is StrategyStatus.STOPPED
    assert outcome.closing == []  # nothing was held any more
    assert sid not in a.registry.loaded and sid not in b.registry.loaded
    assert [(c["kind"], c["target"], c["state"]) for c in await commands(settings)] == [
        ("run_cycle_now", replica(a), "done"),
        ("close_position", replica(a), "done"),
        ("run_cycle_now", replica(a), "done"),
        ("stop", replica(a), "done"),
    ]


async def test_a_pause_given_to_another_replica_answers_once_the_owners_cycle_in_flight_is_done(
    replicas: tuple[StrategyService, StrategyService], settings: Settings, gate: asyncio.Event
) -> None:
    a, b = replicas
    sid = await running_on(a, agent_kind="gated")
    assert (await b.get(sid)).owner_replica == replica(a)
    in_flight = asyncio.create_task(a.run_cycle_now(sid))  # held at the composer by the gate
    pausing = asyncio.create_task(b.pause(sid))

    async def paused() -> bool:
        rows = await fetch(settings, "SELECT status FROM strategies WHERE id = ?", (sid,))
        return rows[0]["status"] == "paused"

    await wait_for(paused, 5.0)
    gate.set()
    info = await pausing

    assert info.status is StrategyStatus.PAUSED
    assert info.cycles == 1  # the owner's cycle in flight, finished before the answer
    assert info.owner_replica is None and info.lease_expires_ms is None
    assert sid not in a.registry.loaded  # the owner dropped it before the answer came
    assert (await in_flight).strategy_id == sid


async def test_an_update_given_to_another_replica_answers_the_config_the_owner_runs_next(
    replicas: tuple[StrategyService, StrategyService],
) -> None:
    a, b = replicas
    sid = await running_on(a)

    info = await b.update(sid, max_positions=2, name="renamed")

    assert (info.name, info.request.trading_config.max_positions) == ("renamed", 2)
    assert info.owner_replica == replica(a)  # still the owner's, not moved by the update

    async def owner_reloaded() -> bool:
        loaded = a.registry.loaded.get(sid)
        return loaded is not None and loaded.row.request == info.request

    await wait_for(owner_reloaded, 2.0)
    ran = await b.run_cycle_now(sid)
    assert ran.portfolio.constraints is not None
    assert ran.portfolio.constraints.max_positions == 2  # the owner's next cycle runs with it


async def test_a_command_the_owner_never_takes_fails_after_the_wait_saying_it_did_not_run(
    replicas: tuple[StrategyService, StrategyService], settings: Settings
) -> None:
    a, b = replicas
    sid = await running_on(a)
    await a.leases.relay.stop()  # type: ignore[union-attr]  # a keeps its lease but takes nothing

    started = time.monotonic()
    with pytest.raises(CommandNotTaken, match=f"not taken by replica {replica(a)}.*did not run"):
        await b.run_cycle_now(sid)
    assert WAIT_S <= time.monotonic() - started < WAIT_S + 1.0
    assert await commands(settings) == [
        {"kind": "run_cycle_now", "sender": replica(b), "target": replica(a), "state": "abandoned"}
    ]
    await a.leases.relay.take()  # type: ignore[union-attr]  # it comes back: nothing to run late
    assert (await a.get(sid)).cycles == 0


async def test_a_command_the_owner_takes_but_does_not_answer_in_time_fails_saying_it_may_have_run(
    replicas: tuple[StrategyService, StrategyService], settings: Settings, gate: asyncio.Event
) -> None:
    a, b = replicas
    sid = await running_on(a, agent_kind="gated")

    with pytest.raises(CommandUnanswered, match=f"started by replica {replica(a)}.*may have run"):
        await b.run_cycle_now(sid)
    assert [c["state"] for c in await commands(settings)] == ["running"]
    gate.set()  # the owner finishes the cycle it took: it ran once, and was never sent again

    async def answered() -> bool:
        return [c["state"] for c in await commands(settings)] == ["done"]

    await wait_for(answered, 5.0)
    assert (await b.get(sid)).cycles == 1


async def test_a_command_sent_to_a_replica_that_lost_the_strategy_goes_on_to_the_new_owner(
    settings: Settings,
) -> None:
    async with open_store(settings.db_path, settings.db_url.get_secret_value()) as store:  # type: ignore[union-attr]
        sid = (await store.strategies.insert(
            strategy_id="s-moved", name="moved", agent_kind="default",
            request=live_request(), replay=None, owner="~owner",
        )).id  # fmt: skip
        assert isinstance(store.rows, PgDatabase)
        relays = {
            name: CommandRelay(PgCommands(store.rows), name, wait_s=WAIT_S, sweep_s=60)
            for name in ("old", "new", "asked")
        }
        ran: list[str] = []

        async def moved(strategy_id: str, args: dict[str, Any]) -> str:
            raise OwnedElsewhere(strategy_id, "new")  # what before_command says once it moved

        async def runs(strategy_id: str, args: dict[str, Any]) -> str:
            ran.append(strategy_id)
            return '{"ran": "on new"}'

        relays["old"].handle("run_cycle_now", moved)
        relays["new"].handle("run_cycle_now", runs)
        for relay in relays.values():
            await relay.start()
        try:
            answer = await relays["asked"].ask("old", sid, "run_cycle_now", {})
        finally:
            for relay in relays.values():
                await relay.stop()
    assert answer == '{"ran": "on new"}' and ran == [sid]
    assert [(c["target"], c["state"]) for c in await commands(settings)] == [
        ("old", "failed"),
        ("new", "done"),
    ]


async def test_get_and_list_show_the_owner_replica_and_its_lease_expiry(
    replicas: tuple[StrategyService, StrategyService],
) -> None:
    a, b = replicas
    sid = await running_on(a)
    before_ms = time.time() * 1000
    info = await b.get(sid)
    [listed] = await b.list()
    assert info.owner_replica == listed.owner_replica == replica(a)
    assert info.lease_expires_ms is not None
    assert before_ms - 1000 < info.lease_expires_ms <= before_ms + TTL_S * 1000 + 1000


async def test_a_sqlite_store_shows_no_owner_replica(tmp_path: Path) -> None:
    async with StrategyService.open(Settings(db_path=tmp_path / "one.db")) as svc:
        info = await svc.create(live_request(decide_interval=DAY))
        await svc.start(info.strategy_id)
        shown = await svc.get(info.strategy_id)
    assert (shown.owner_replica, shown.lease_expires_ms) == (None, None)


async def wait_for(predicate: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "not within the time bound"
        await asyncio.sleep(0.05)
