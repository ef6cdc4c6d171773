"""A real server over a real store, on the replayed candles in ../shared/data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from tests.tools.agents import FlipAgent
from tradeloop.server.app import build_server
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings

MODES = ["auto", "legacy"]
"""Both protocol eras: 2026-07-28 without a handshake, and the initialize handshake."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No replay directory: live market data (tests must not reach it)."""
    return Settings(db_path=tmp_path / "tradeloop.db")


@pytest.fixture
def replay_settings(tmp_path: Path, shared_data: Path) -> Settings:
    return Settings(db_path=tmp_path / "tradeloop.db", replay_dir=shared_data)


def flip_service(settings: Settings):
    """The real service, deciding with FlipAgent: every cycle trades."""
    return StrategyService.open(settings, agents={"default": FlipAgent()})


Connect = Callable[[], AbstractAsyncContextManager[Client]]


def connector(settings: Settings, mode: str, open_service: Any = None) -> Connect:
    """``async with connect() as client``: a session entered and left in the test's own task
    (an async-generator fixture would leave the SDK's task groups from another task)."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[Client]:
        server = build_server(settings, open_service=open_service)
        async with Client(server, mode=mode) as client:
            yield client

    return connect


@pytest.fixture(params=MODES)
def connect(request, replay_settings: Settings) -> Connect:
    """The real server and service, with the default (rule) agent, in both protocol eras."""
    return connector(replay_settings, request.param)


@pytest.fixture(params=MODES)
def connect_trading(request, replay_settings: Settings) -> Connect:
    """The real server and service, with an agent that trades every cycle."""
    return connector(replay_settings, request.param, flip_service)


async def ok(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    result: CallToolResult = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text if result.content else result
    assert result.structured_content is not None
    return result.structured_content


async def error(client: Client, tool: str, **args: Any) -> str:
    """Call a tool that must fail with a tool error; return its text."""
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def create(client: Client, **overrides: Any) -> dict[str, Any]:
    args = {"symbols": ["BTC-USDT", "ETH-USDT"], "initial_capital": 10_000} | overrides
    return await ok(client, "create_strategy", **args)
