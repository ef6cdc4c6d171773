"""Every tool is held to its published schema: unknown keys and bad values change nothing."""

from __future__ import annotations

import pytest
from mcp import Client

from tests.server.stub_service import FailingService, opener
from tradeloop.server.app import build_server
from tradeloop.trading.errors import NotFound


@pytest.fixture
def service() -> FailingService:
    return FailingService(NotFound("no strategy with id 's_x'"))


@pytest.fixture
def server(settings, service):
    return build_server(settings, open_service=opener(service))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_unknown_argument_is_rejected_by_name_before_the_service_is_called(
    server, service, mode
) -> None:
    async with Client(server, mode=mode) as client:
        result = await client.call_tool(
            "delete_strategy", {"strategy_id": "s_0123456789abcdef", "forse": True}
        )
    assert result.is_error
    text = result.content[0].text
    assert "unknown argument 'forse'" in text
    assert "it accepts: strategy_id" in text
    assert service.calls == []


async def test_every_published_input_schema_forbids_additional_properties(server) -> None:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    assert tools
    assert all(tool.input_schema["additionalProperties"] is False for tool in tools)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"symbols": ["BTC-USDT"], "initial_capital": 0},
            "initial_capital: Input should be greater than 0",
        ),
        (
            {"symbols": ["BTC-USDT"], "initial_capital": 100, "decide_interval": 0},
            "decide_interval: Input should be greater than or equal to 1",
        ),
        (
            {"symbols": ["BTC-USDT"], "initial_capital": 100, "max_leverage": 500},
            "max_leverage: Input should be less than or equal to 125",
        ),
        (
            {"symbols": ["BTC-USDT"], "initial_capital": 100, "max_leverage": 3},
            "max_leverage: spot markets allow only 1",
        ),
        (
            {"symbols": ["not a symbol!"], "initial_capital": 100},
            "symbols: 'not a symbol!' is not a symbol like BTC-USDT",
        ),
        (
            {"symbols": ["BTC-USDT", "btc/usdt"], "initial_capital": 100},
            "duplicate symbols: BTC-USDT",
        ),
        (
            {"symbols": ["BTC-USDT"], "initial_capital": 100, "trading_mode": "yolo"},
            "trading_mode: Input should be 'paper' or 'live'",
        ),
        ({"initial_capital": 100}, "symbols: Field required"),
    ],
)
async def test_a_bad_create_strategy_argument_is_named_with_what_is_allowed(
    server, service, args, expected
) -> None:
    async with Client(server) as client:
        result = await client.call_tool("create_strategy", args)
    assert result.is_error
    assert expected in result.content[0].text
    assert service.calls == []


async def test_update_strategy_without_any_change_says_what_can_change(server, service) -> None:
    async with Client(server) as client:
        result = await client.call_tool("update_strategy", {"strategy_id": "s_0123456789abcdef"})
    assert result.is_error
    assert "needs at least one setting to change" in result.content[0].text
    assert service.calls == []
