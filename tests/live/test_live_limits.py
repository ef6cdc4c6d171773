"""max_live_capital with real live strategies (the fake Binance USDT-M venue behind real ccxt):
the initial capital the live desk gives a strategy counts, exactly at the limit passes, a cent
more is refused, and a stopped strategy holds none until it starts again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.execution.fake_exchange.engine import FakeAccount
from tests.execution.harness import fake_account
from tests.live.helpers import LIVE_ENV, live_request, registered_fake
from tests.services.helpers import ScriptedAgent, scripted
from tests.store_backends import StoreTarget
from tradeloop.services.limits import LimitExceeded
from tradeloop.services.live_gate import live_params
from tradeloop.services.models import StrategyInfo
from tradeloop.services.strategies import StrategyService
from tradeloop.store.limits import PrincipalLimits
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.models import MarketType, StrategyStatus

CASH = Decimal("2345.67")


@pytest.fixture
async def venue(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAccount]:
    monkeypatch.delenv("TRADELOOP_CREDENTIALS_FILE", raising=False)
    for name, value in LIVE_ENV.items():
        monkeypatch.setenv(name, value)
    account = fake_account("binance", MarketType.PERPETUAL, cash=CASH)
    async with registered_fake(account, "binance", MarketType.PERPETUAL, "main"):
        yield account


@pytest.fixture
async def svc(store_target: StoreTarget, venue: FakeAccount) -> AsyncIterator[StrategyService]:
    settings = store_target.settings(live_trading_enabled=True, shutdown_grace_s=5)
    agents = {"default": ScriptedAgent([{"BTC-USDT": 50000.0}], scripted([]))}
    clock = SimulatedClock(1_750_000_000_000)
    async with StrategyService.open(settings, agents=agents, clock=clock) as service:
        yield service


async def create_live(svc: StrategyService, owner: str) -> StrategyInfo:
    request = live_request()
    approval = svc.live_gate.approve_elicited(True, "create", live_params("create", request))
    return await svc.create(request, approval=approval, owner=owner)


async def start_live(svc: StrategyService, strategy_id: str) -> StrategyInfo:
    params = live_params("start", (await svc.get(strategy_id)).request, strategy_id)
    token = svc.live_gate.issue("start", params).token
    return await svc.start(strategy_id, approval=svc.live_gate.redeem(token, "start", params))


async def test_live_capital_up_to_the_limit_passes_and_more_is_refused_until_one_stops(
    svc: StrategyService, venue: FakeAccount
) -> None:
    await svc.store.limits.put(PrincipalLimits("alice", max_live_capital=CASH))
    first = await create_live(svc, "alice")
    assert Decimal(str(first.initial_capital)) == CASH  # exactly the limit
    venue.balances["USDT"] += Decimal("0.01")  # a cent more for a second strategy
    with pytest.raises(LimitExceeded) as refused:
        await create_live(svc, "alice")
    assert str(refused.value) == (
        "limit max_live_capital 2345.67 would be exceeded: your other live strategies that are "
        "not stopped hold 2345.67 of initial capital and this one 0.01 (2345.68 in all); stop or "
        "delete one first"
    )
    assert (await create_live(svc, "bob")).initial_capital == 0.01  # bob has no limits
    await svc.stop(first.strategy_id)  # a stopped strategy holds no capital
    second = await create_live(svc, "alice")
    assert Decimal(str(second.initial_capital)) == CASH
    with pytest.raises(LimitExceeded, match="limit max_live_capital 2345.67 would be exceeded"):
        await start_live(svc, first.strategy_id)
    assert (await svc.get(first.strategy_id)).status is StrategyStatus.STOPPED
    await svc.stop(second.strategy_id)
    assert (await start_live(svc, first.strategy_id)).status is StrategyStatus.RUNNING
