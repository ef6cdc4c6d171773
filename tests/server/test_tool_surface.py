"""The published surface: names, descriptions, output schemas and honest annotations."""

from __future__ import annotations

from mcp import Client

from tests.server.stub_service import FailingService, opener
from tradeloop.server.app import build_server
from tradeloop.trading.errors import NotFound

TOOLS = {
    "create_strategy", "start_strategy", "pause_strategy", "resume_strategy", "stop_strategy",
    "update_strategy", "delete_strategy", "list_strategies", "get_strategy", "run_cycle_now",
    "preview_decision", "get_portfolio", "close_position", "get_digest", "list_trades",
    "list_cycles", "get_cycle", "query_features", "list_features", "run_backtest",
    "get_equity_chart", "get_chart_series", "compare_strategies", "get_run_series",
    "wait_for_change",
}  # fmt: skip
READ_ONLY = {
    "list_strategies", "get_strategy", "preview_decision", "get_portfolio", "get_digest",
    "list_trades", "list_cycles", "get_cycle", "query_features", "list_features",
    "get_equity_chart", "get_chart_series", "get_run_series", "wait_for_change",
}  # fmt: skip
DESTRUCTIVE = {"stop_strategy", "close_position", "delete_strategy"}


async def tools(settings):
    server = build_server(settings, open_service=opener(FailingService(NotFound("x"))))
    async with Client(server) as client:
        return {t.name: t for t in (await client.list_tools()).tools}


async def test_the_server_publishes_exactly_the_agreed_tools(settings) -> None:
    assert set(await tools(settings)) == TOOLS


async def test_every_tool_and_every_argument_is_described(settings) -> None:
    for tool in (await tools(settings)).values():
        assert tool.description and len(tool.description) > 30, tool.name
        assert tool.title, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name}"


async def test_every_tool_but_the_chart_returns_a_structured_model(settings) -> None:
    for tool in (await tools(settings)).values():
        if tool.name == "get_equity_chart":
            assert tool.output_schema is None
        else:
            assert tool.output_schema and tool.output_schema["type"] == "object", tool.name


async def test_annotations_mark_reads_read_only_and_stop_close_delete_destructive(settings) -> None:
    for tool in (await tools(settings)).values():
        hints = tool.annotations
        assert hints.read_only_hint is (tool.name in READ_ONLY), tool.name
        if not hints.read_only_hint:
            assert hints.destructive_hint is (tool.name in DESTRUCTIVE), tool.name
