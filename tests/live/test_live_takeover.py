"""Live strategies share replicas by the same lease rule as paper ones, and the replica taking one
over reconciles it with the venue first: an order placed but not settled before the first replica
was cut off is settled exactly once, by the new owner, and never sent again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.execution.fake_exchange.engine import FakeAccount
from tests.execution.harness import fake_account
from tests.live.helpers import LIVE_ENV, live_request, registered_fake
from tests.pg_cluster import Cluster
from tests.services.helpers import ScriptedAgent, scripted
from tests.store_backends import StoreTarget, fetch
from tradeloop.services.live_gate import live_params
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.store.postgres.db import PgDatabase
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.errors import OperationalError
from tradeloop.trading.models import MarketType, StrategyStatus, TradeAction, TradeSide

TTL_S = 1.5
PERP = MarketType.PERPETUAL
PRICES = [{"BTC-USDT": 50000.0}]
START_MS = 1_750_000_000_000


def buys(qty: float) -> list[tuple[str, TradeSide, float, TradeAction]]:
    return [("BTC-USDT", TradeSide.BUY, qty, TradeAction.OPEN_LONG)]


@pytest.fixture
async def venue(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAccount]:
    monkeypatch.delenv("TRADELOOP_CREDENTIALS_FILE", raising=False)
    for name, value in LIVE_ENV.items():
        monkeypatch.setenv(name, value)
    account = fake_account("binance", PERP, cash=Decimal("2345.67"))
    async with registered_fake(account, "binance", PERP, "main"):
        yield account


@pytest.fixture
def settings(tmp_path: Path, postgres_cluster: Cluster) -> Settings:
    target = StoreTarget("postgresql", tmp_path / "unused.db", postgres_cluster.create_database())
    return target.settings(live_trading_enabled=True, lease_ttl_s=TTL_S, shutdown_grace_s=1)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.05)


async def applied(settings: Settings) -> list[int]:
    rows = await fetch(settings, "SELECT applied FROM live_intents ORDER BY created_ts, rowid")
    return [int(r["applied"]) for r in rows]


async def started_live(svc: StrategyService) -> str:
    request = live_request()
    approval = svc.live_gate.approve_elicited(True, "create", live_params("create", request))
    sid = (await svc.create(request, approval=approval)).strategy_id
    params = live_params("start", (await svc.get(sid)).request, sid)  # capital as capped
    token = svc.live_gate.issue("start", params).token
    await svc.start(sid, approval=svc.live_gate.redeem(token, "start", params))
    return sid


async def test_a_live_close_given_to_another_replica_is_sent_once_by_the_owner(
    venue: FakeAccount, settings: Settings
) -> None:
    clock = SimulatedClock(START_MS)
    agents: dict[str, Any] = {"default": ScriptedAgent(PRICES, scripted([buys(0.01)]))}
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            StrategyService.open(settings, agents=agents, clock=clock)
        )
        b = await stack.enter_async_context(
            StrategyService.open(settings, agents=agents, clock=clock)
        )
        sid = await started_live(a)
        await b.run_cycle_now(sid)
        closed = await b.close_position(sid, "BTC-USDT")
        assert sid not in b.registry.loaded  # b never connected to the venue for it

    assert [(tx.side, tx.filled_qty) for tx in closed.tx_results] == [(TradeSide.SELL, 0.01)]
    assert venue.base_position("BTCUSDT") == Decimal("0")
    assert len(venue.orders) == 2 and venue.duplicates() == {}
    assert await applied(settings) == [1, 1]


async def test_the_replica_taking_over_a_live_strategy_settles_its_unsettled_order_exactly_once(
    venue: FakeAccount, settings: Settings
) -> None:
    clock = SimulatedClock(START_MS)
    agents: dict[str, Any] = {"default": ScriptedAgent(PRICES, scripted([buys(0.01), buys(0.02)]))}
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            StrategyService.open(settings, agents=agents, clock=clock)
        )
        sid = await started_live(a)
        await a.run_cycle_now(sid)
        with pytest.raises(OperationalError, match="could not be recorded"):
            await a.run_cycle_now(sid)  # same slot: the order filled, its commit was refused
        assert await applied(settings) == [1, 0]  # placed on the venue, not settled
        b = await stack.enter_async_context(
            StrategyService.open(settings, agents=agents, clock=clock)
        )
        assert b.leases.ownership.held == set()  # type: ignore[union-attr]  # a holds it

        assert isinstance(a.store.rows, PgDatabase)
        a.store.rows.pool.terminate()  # replica a is cut off for good

        async def taken_over() -> bool:  # reconciled and scheduled on b
            return b.scheduler.next_run_ms(sid) is not None

        await wait_for(taken_over, TTL_S + 3 * TTL_S / 3 + 2, "b takes the strategy over")
        info = await b.get(sid)
        portfolio = await b.get_portfolio(sid)

    assert (info.status, info.reason) == (StrategyStatus.RUNNING, None)  # reconciled, not paused
    assert await applied(settings) == [1, 1]  # settled by the new owner
    assert portfolio.positions["BTC-USDT"].quantity == pytest.approx(0.03)  # once, not twice
    assert venue.base_position("BTCUSDT") == Decimal("0.03")
    assert len(venue.orders) == 2 and venue.duplicates() == {}  # nothing sent again
