"""``OwnedStrategies``: the strategy service as one principal sees it. Its own strategies only,
another's id refused in an unknown id's words, events about its own only; the operator sees
every one; the scheduler runs every principal's strategies whoever asks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mcp.server.auth.provider import AccessToken

from tests.services.helpers import replay_request
from tradeloop.backtest.runner import BacktestRuns
from tradeloop.services.owned import OwnedStrategies
from tradeloop.services.principals import (
    OPERATOR,
    OWNER,
    Principal,
    ScopeNames,
    is_reserved,
    principal_from_token,
)
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.errors import NotFound
from tradeloop.trading.models import StrategyStatus

ALICE = Principal(name="alice", can_trade=True)
BOB = Principal(name="bob", can_trade=True)
UNKNOWN = "s_00000000000000ff"


async def test_a_principal_lists_and_reads_only_what_it_created(
    service: StrategyService, shared_data: Path
) -> None:
    alice, bob = OwnedStrategies(service, ALICE), OwnedStrategies(service, BOB)
    mine = await alice.create(replay_request(), name="btc", replay=shared_data)
    theirs = await bob.create(replay_request(), name="btc", replay=shared_data)
    assert (mine.owner, theirs.owner) == ("alice", "bob")
    assert [i.strategy_id for i in await alice.list()] == [mine.strategy_id]
    assert [i.strategy_id for i in await bob.list()] == [theirs.strategy_id]
    assert await OwnedStrategies(service, OWNER).list() == []
    everyone = await OwnedStrategies(service, OPERATOR).list()
    assert {i.strategy_id for i in everyone} == {mine.strategy_id, theirs.strategy_id}
    assert (await alice.get(mine.strategy_id)).name == "btc"


@pytest.mark.parametrize(
    "act",
    [
        lambda s, sid: s.get(sid),
        lambda s, sid: s.get_digest(sid),
        lambda s, sid: s.get_portfolio(sid),
        lambda s, sid: s.list_trades(sid),
        lambda s, sid: s.list_cycles(sid),
        lambda s, sid: s.chart_rows(sid),
        lambda s, sid: s.start(sid),
        lambda s, sid: s.pause(sid),
        lambda s, sid: s.resume(sid),
        lambda s, sid: s.stop_closing(sid),
        lambda s, sid: s.update(sid, decide_interval=600),
        lambda s, sid: s.delete(sid),
        lambda s, sid: s.run_cycle_now(sid),
        lambda s, sid: s.preview_decision(sid),
        lambda s, sid: s.close_position(sid, "BTC-USDT"),
    ],
)
async def test_another_principals_strategy_is_refused_like_an_unknown_one_and_kept(
    service: StrategyService, shared_data: Path, act
) -> None:
    theirs = await OwnedStrategies(service, BOB).create(replay_request(), replay=shared_data)
    alice = OwnedStrategies(service, ALICE)
    with pytest.raises(NotFound) as foreign:
        await act(alice, theirs.strategy_id)
    with pytest.raises(NotFound) as unknown:
        await act(alice, UNKNOWN)
    assert str(foreign.value).replace(theirs.strategy_id, UNKNOWN) == str(unknown.value)
    assert await service.get(theirs.strategy_id) == theirs  # nothing changed


async def test_another_principals_cycle_is_refused_like_an_unknown_one(
    service: StrategyService, shared_data: Path
) -> None:
    bob = OwnedStrategies(service, BOB)
    sid = (await bob.create(replay_request(), replay=shared_data)).strategy_id
    compose_id = (await bob.run_cycle_now(sid)).compose_id
    assert (await bob.get_cycle(compose_id)).compose_id == compose_id
    unknown_id = "c_" + "0" * 32
    with pytest.raises(NotFound) as foreign:
        await OwnedStrategies(service, ALICE).get_cycle(compose_id)
    with pytest.raises(NotFound) as unknown:
        await OwnedStrategies(service, ALICE).get_cycle(unknown_id)
    assert str(foreign.value).replace(compose_id, unknown_id) == str(unknown.value)


async def test_a_principal_hears_of_its_own_strategies_only(
    service: StrategyService, shared_data: Path
) -> None:
    alice, bob = OwnedStrategies(service, ALICE), OwnedStrategies(service, BOB)
    heard_by_alice, heard_by_all = alice.subscribe(), service.subscribe()
    try:
        theirs = (await bob.create(replay_request(), replay=shared_data)).strategy_id
        mine = (await alice.create(replay_request(), replay=shared_data)).strategy_id
        await bob.run_cycle_now(theirs)
        await alice.run_cycle_now(mine)
        first = await asyncio.wait_for(heard_by_alice.get(), 5)
    finally:
        alice.unsubscribe(heard_by_alice)
        service.unsubscribe(heard_by_all)
    assert first.strategy_id == mine and heard_by_alice.empty()
    assert {heard_by_all.get_nowait().strategy_id for _ in range(2)} == {theirs, mine}


async def test_every_principals_running_strategy_resumes_after_a_restart(
    settings: Settings, clock: SimulatedClock, shared_data: Path
) -> None:
    async with StrategyService.open(settings, clock=clock) as service:
        ids = []
        for who in (ALICE, BOB):
            owned = OwnedStrategies(service, who)
            sid = (await owned.create(replay_request(), replay=shared_data)).strategy_id
            await owned.start(sid)
            ids.append(sid)
    async with StrategyService.open(settings, clock=clock) as service:
        infos = [await service.get(sid) for sid in ids]
        resumed = [sid in service.registry.loaded for sid in ids]
    assert [i.status for i in infos] == [StrategyStatus.RUNNING] * 2
    assert resumed == [True, True]


def test_a_comparison_is_found_for_its_owner_only() -> None:
    runs = BacktestRuns()
    runs.own("cmp_1", "bob")
    runs.add_comparison("cmp_1", object())
    assert runs.comparison("cmp_1", owner="bob") is not None
    assert runs.comparison("cmp_1") is not None
    assert runs.comparison("cmp_1", owner="alice") is None


def test_no_token_can_stand_for_the_operator_or_the_implicit_owner() -> None:
    scopes = ScopeNames()
    token = AccessToken(token="", client_id=OPERATOR.name, scopes=scopes.all())
    assert not principal_from_token(token, scopes).sees_all
    assert is_reserved(OPERATOR.name) and is_reserved(OWNER.name) and not is_reserved("alice")
