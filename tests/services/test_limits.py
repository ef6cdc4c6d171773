"""Per-principal limits enforced by the strategy service, on SQLite and PostgreSQL: each limit lets
a principal reach it exactly and refuses one more, naming the limit, its value and the usage,
storing nothing; the default row, the implicit owner, start after a lowered limit, and creates
racing for the last place (on one store and on two, as two replicas would)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.services.helpers import perpetual_request, replay_request
from tests.store_backends import StoreTarget, fetch
from tradeloop.services.limits import LimitExceeded, admission
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.store.backend import NewStrategy
from tradeloop.store.limits import PrincipalLimits
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.models import StrategyStatus
from tradeloop.trading.utils import new_id

START_MS = 1_750_000_000_000


@pytest.fixture
def settings(store_target: StoreTarget, shared_data) -> Settings:
    return store_target.settings(shutdown_grace_s=5, replay_dir=shared_data)


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[StrategyService]:
    async with StrategyService.open(settings, clock=SimulatedClock(START_MS)) as service:
        yield service


async def owned_by(settings: Settings, owner: str) -> int:
    rows = await fetch(settings, "SELECT COUNT(*) AS n FROM strategies WHERE owner = ?", (owner,))
    return int(rows[0]["n"])


async def test_a_principal_creates_up_to_max_strategies_and_the_next_is_refused(
    svc: StrategyService, settings: Settings
) -> None:
    await svc.store.limits.put(PrincipalLimits("alice", max_strategies=2))
    for _ in range(2):
        await svc.create(replay_request(), owner="alice")
    with pytest.raises(LimitExceeded) as refused:
        await svc.create(replay_request(), owner="alice")
    assert str(refused.value) == (
        "limit max_strategies 2 reached: you already have 2 strategies (stopped ones count, "
        "stored backtests do not; delete_strategy frees a place)"
    )
    assert await owned_by(settings, "alice") == 2
    await svc.create(replay_request(), owner="bob")  # another principal's count is its own


async def test_stopped_strategies_count_until_deleted_and_stored_backtests_never(
    svc: StrategyService,
) -> None:
    await svc.store.limits.put(PrincipalLimits("alice", max_strategies=1))
    first = await svc.create(replay_request(), owner="alice")
    await svc.stop(first.strategy_id)
    with pytest.raises(LimitExceeded, match="you already have 1 strategy "):
        await svc.create(replay_request(), owner="alice")
    await svc.delete(first.strategy_id)
    backtest = NewStrategy(
        strategy_id=new_id("bt"), name="a stored backtest", agent_kind="backtest",
        request=replay_request(), replay=None, status=StrategyStatus.STOPPED, reason="backtest",
        owner="alice",
    )  # fmt: skip
    await svc.store.insert_whole(backtest, [])
    await svc.create(replay_request(), owner="alice")


async def test_the_default_limits_hold_principals_without_their_own_but_not_the_owner(
    svc: StrategyService,
) -> None:
    await svc.store.limits.put(PrincipalLimits("*", max_strategies=0))
    await svc.store.limits.put(PrincipalLimits("carol", max_strategies=1))
    with pytest.raises(LimitExceeded, match="limit max_strategies 0 reached"):
        await svc.create(replay_request(), owner="bob")
    await svc.create(replay_request(), owner="carol")
    await svc.create(replay_request())  # the implicit owner: no limits of its own
    await svc.create(replay_request())


async def test_a_venue_outside_allowed_venues_is_refused_and_nothing_is_stored(
    svc: StrategyService, settings: Settings
) -> None:
    await svc.store.limits.put(PrincipalLimits("alice", allowed_venues=("binance", "okx")))
    await svc.create(replay_request(), owner="alice")
    with pytest.raises(LimitExceeded) as refused:
        await svc.create(perpetual_request(), owner="alice")
    assert str(refused.value) == (
        "limit allowed_venues refuses exchange_id 'bybit': allowed venues are binance, okx"
    )
    assert await owned_by(settings, "alice") == 1


async def test_start_and_resume_are_refused_once_the_operator_lowered_the_limits(
    svc: StrategyService,
) -> None:
    kept = [await svc.create(replay_request(), owner="alice") for _ in range(3)]
    running = await svc.start(kept[0].strategy_id)
    await svc.pause(running.strategy_id)
    await svc.store.limits.put(PrincipalLimits("alice", max_strategies=2))
    with pytest.raises(LimitExceeded) as refused:
        await svc.start(kept[1].strategy_id)
    assert str(refused.value) == (
        "limit max_strategies 2 exceeded: you have 3 strategies, this one included (stopped "
        "ones count, stored backtests do not); delete 1 before you start one"
    )
    with pytest.raises(LimitExceeded, match="delete 1 before you resume one"):
        await svc.resume(kept[0].strategy_id)
    assert (await svc.get(kept[1].strategy_id)).status is StrategyStatus.CREATED
    assert (await svc.get(kept[0].strategy_id)).status is StrategyStatus.PAUSED
    await svc.stop(kept[2].strategy_id)
    await svc.delete(kept[2].strategy_id)
    assert (await svc.start(kept[1].strategy_id)).status is StrategyStatus.RUNNING


async def test_creates_racing_for_the_last_place_let_exactly_one_in(
    svc: StrategyService, settings: Settings
) -> None:
    await svc.store.limits.put(PrincipalLimits("alice", max_strategies=1))
    answers = await asyncio.gather(
        *(svc.create(replay_request(), owner="alice") for _ in range(6)), return_exceptions=True
    )
    refused = [a for a in answers if isinstance(a, LimitExceeded)]
    assert len(refused) == 5, answers
    assert await owned_by(settings, "alice") == 1


async def test_two_stores_on_one_database_never_both_take_the_last_place(
    store_target: StoreTarget, settings: Settings
) -> None:
    """Two connections writing at once, as two replicas (or a replica and a restarted one)
    would: the check and the insert share one transaction, serialized per principal."""
    request = replay_request()
    async with store_target.open() as one, store_target.open() as two:
        await one.limits.put(PrincipalLimits("alice", max_strategies=3))

        async def insert(store, n: int) -> object:
            return await store.strategies.insert(
                strategy_id=new_id("s"), name=f"s{n}", agent_kind="default", request=request,
                replay=None, owner="alice", admit=admission(request),
            )  # fmt: skip

        answers = await asyncio.gather(
            *(insert(one if n % 2 else two, n) for n in range(10)), return_exceptions=True
        )
    assert sum(isinstance(a, LimitExceeded) for a in answers) == 7, answers
    assert await owned_by(settings, "alice") == 3


async def test_live_capital_counts_only_live_strategies(svc: StrategyService) -> None:
    """Paper strategies never count against max_live_capital, even at 0 (the live side is in
    tests/live/test_live_limits.py)."""
    await svc.store.limits.put(PrincipalLimits("alice", max_live_capital=Decimal(0)))
    await svc.create(replay_request(initial_capital=10**9), owner="alice")
