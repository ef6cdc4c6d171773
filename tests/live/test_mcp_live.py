"""Live trading through the MCP tools, in memory, against the fake Binance USDT-M venue: the
two-step confirmation works once; a reused or altered token creates and starts nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.execution.fake_exchange.engine import FakeAccount
from tests.execution.harness import SENTINEL_KEY, SENTINEL_SECRET, fake_account, fake_exchange
from tests.live.helpers import LIVE_ENV, registered_fake
from tests.services.helpers import ScriptedAgent, scripted
from tests.tools.conftest import error, ok
from tradeloop.server.app import build_server
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.exchanges import ExchangeKey, register_exchange
from tradeloop.trading.models import MarketType

PERP = MarketType.PERPETUAL
LIVE = {
    "symbols": ["BTC-USDT"],
    "initial_capital": 1000,
    "trading_mode": "live",
    "exchange": "binance",
    "market_type": "perpetual",
    "max_leverage": 3,
    "testnet": True,
    "credentials_name": "main",
}


@pytest.fixture
async def venue(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAccount]:
    monkeypatch.delenv("TRADELOOP_CREDENTIALS_FILE", raising=False)
    for name, value in LIVE_ENV.items():
        monkeypatch.setenv(name, value)
    account = fake_account("binance", PERP)
    async with registered_fake(account, "binance", PERP, "main"):
        public, _ = fake_exchange(account, "binance", PERP)  # create_strategy checks the symbols
        register_exchange(ExchangeKey("binance", PERP, True), public)
        yield account


def open_service(settings: Settings) -> Any:
    agent = ScriptedAgent([{"BTC-USDT": 50000.0}], scripted([]))
    return StrategyService.open(
        settings, agents={"default": agent}, clock=SimulatedClock(1_750_000_000_000)
    )


def token_of(text: str) -> str:
    assert text.startswith("confirmation required before live trading"), text
    return text.split("confirmation_token='")[1].split("'")[0]


async def test_a_confirmation_token_creates_and_starts_once_and_never_when_reused_or_altered(
    venue: FakeAccount, tmp_path: Path
) -> None:
    settings = Settings(db_path=tmp_path / "live.db", live_trading_enabled=True)
    texts: list[str] = []
    async with Client(build_server(settings, open_service=open_service)) as client:
        token = token_of(await error(client, "create_strategy", **LIVE))
        created = await ok(client, "create_strategy", **LIVE, confirmation_token=token)
        texts.append(str(created))
        texts.append(await error(client, "create_strategy", **LIVE, confirmation_token=token))
        altered = token_of(await error(client, "create_strategy", **LIVE))
        texts.append(
            await error(
                client, "create_strategy", **LIVE | {"max_leverage": 5}, confirmation_token=altered
            )
        )
        assert (await ok(client, "list_strategies"))["count"] == 1

        sid = created["strategy_id"]
        start = token_of(await error(client, "start_strategy", strategy_id=sid))
        wrong = token_of(await error(client, "create_strategy", **LIVE))
        texts.append(
            await error(client, "start_strategy", strategy_id=sid, confirmation_token=wrong)
        )
        assert (await ok(client, "get_strategy", strategy_id=sid))["status"] == "created"
        started = await ok(client, "start_strategy", strategy_id=sid, confirmation_token=start)
        texts.append(
            await error(client, "start_strategy", strategy_id=sid, confirmation_token=start)
        )
        texts.append(str(await ok(client, "get_strategy", strategy_id=sid)))
    assert created["config"]["initial_capital"] == 1000  # a cap below the account's 10,000 free
    assert "already used" in texts[1] and "different parameters" in texts[2]
    assert "different parameters" in texts[3]
    assert started["status"] == "running" and "already used" in texts[4]
    assert venue.orders == []
    assert all(SENTINEL_KEY not in t and SENTINEL_SECRET not in t for t in texts)
