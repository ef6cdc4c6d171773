"""Two MCP servers sharing one PostgreSQL database: the tools of the one that does not run a
strategy show its owner replica and lease, and run its cycles on demand on the owner."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.fakes import ScriptedComposer
from tests.pg_cluster import Cluster
from tests.services.helpers import ScriptedAgent, live_request
from tests.store_backends import StoreTarget
from tests.tools.conftest import ok
from tradeloop.server.app import build_server
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.models import TradeAction, TradeSide

TTL_S = 3.0
BUY = [[("BTC-USDT", TradeSide.BUY, 1.0, TradeAction.OPEN_LONG)]]


@pytest.fixture
def settings(tmp_path: Path, postgres_cluster: Cluster) -> Settings:
    target = StoreTarget("postgresql", tmp_path / "unused.db", postgres_cluster.create_database())
    return target.settings(lease_ttl_s=TTL_S, shutdown_grace_s=1)


@asynccontextmanager
async def replica(settings: Settings, opened: list[StrategyService]) -> AsyncIterator[Client]:
    """An MCP server and its client; the service it opened is appended to ``opened``."""

    @asynccontextmanager
    async def open_service(s: Settings) -> AsyncIterator[StrategyService]:
        agent = ScriptedAgent([{"BTC-USDT": 100.0}], lambda: ScriptedComposer(BUY))
        async with StrategyService.open(s, agents={"default": agent}) as svc:
            opened.append(svc)
            yield svc

    async with Client(build_server(settings, open_service=open_service)) as client:
        await ok(client, "list_strategies")  # the service is open
        yield client


async def test_the_other_replica_s_tools_show_the_owner_and_run_its_cycles_there(
    settings: Settings,
) -> None:
    opened: list[StrategyService] = []
    async with replica(settings, opened) as first, replica(settings, opened) as second:
        a, b = opened
        sid = (await a.create(live_request(decide_interval=86_400), name="one")).strategy_id
        await a.start(sid)
        owner: Any = a.leases.ownership.replica  # type: ignore[union-attr]
        before_ms = time.time() * 1000

        shown = await ok(second, "get_strategy", strategy_id=sid)
        [listed] = (await ok(second, "list_strategies"))["strategies"]
        ran = await ok(second, "run_cycle_now", strategy_id=sid)
        closed = await ok(second, "close_position", strategy_id=sid, symbol="BTC-USDT")
        on_owner = await ok(first, "get_strategy", strategy_id=sid)

    assert shown["owner_replica"] == listed["owner_replica"] == owner
    assert before_ms - 1000 < shown["lease_expires_ms"] <= before_ms + TTL_S * 1000 + 1000
    assert shown["lease_expires"].endswith("Z")
    assert ran["strategy_id"] == sid and ran["executed"] is True
    assert [(f["side"], f["filled_qty"]) for f in ran["fills"]] == [("BUY", 1.0)]
    assert (closed["status"], closed["filled_qty"]) == ("FILLED", 1.0)
    assert sid not in b.registry.loaded  # both ran on the owner
    assert on_owner["cycles"] == 2 and on_owner["open_positions"] == 0
