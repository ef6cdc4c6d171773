"""The dashboard as an MCP App: the ``ui://`` resource, the tools linked to it, the chart series,
and unchanged answers for clients without MCP Apps."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.client.extension import advertise

from tests.tools.conftest import MODES, connector, create, ok
from tradeloop.server.app import build_server

URI = "ui://tradeloop/dashboard"
APP_MIME = "text/html;profile=mcp-app"
LINKED = {"compare_strategies", "get_digest", "get_portfolio", "get_strategy", "run_backtest"}
APP_ONLY = {"get_chart_series", "get_run_series", "wait_for_change"}


def apps_client(server) -> Client:
    return Client(
        server, extensions=[advertise("io.modelcontextprotocol/ui", {"mimeTypes": [APP_MIME]})]
    )


async def test_the_linked_tools_carry_the_dashboard_resource_uri(settings) -> None:
    async with Client(build_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in LINKED:
        meta = tools[name].meta or {}
        assert meta.get("ui") == {"resourceUri": URI}, name
        assert meta.get("ui/resourceUri") == URI, name
    for name in APP_ONLY:
        assert tools[name].meta["ui"] == {"resourceUri": URI, "visibility": ["app"]}, name
    unlinked = set(tools) - LINKED - APP_ONLY
    assert all("ui" not in (tools[name].meta or {}) for name in unlinked)


@pytest.mark.parametrize("mode", MODES)
async def test_the_dashboard_resource_is_a_self_contained_app_page(settings, mode) -> None:
    async with Client(build_server(settings), mode=mode) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        read = await client.read_resource(URI)
    assert listed[URI].mime_type == APP_MIME
    content = read.contents[0]
    assert content.mime_type == APP_MIME
    assert content.meta["ui"]["csp"] == {}  # the page reaches no other origin
    assert content.text.startswith("<!doctype html>")
    assert "<script src=" not in content.text and "<link " not in content.text


async def test_the_server_advertises_the_apps_extension(settings) -> None:
    # (the SDK leaves extensions out of the 2025-11-25 handshake; hosts there read the tool _meta)
    async with Client(build_server(settings)) as client:
        capabilities = client.server_capabilities
    assert "io.modelcontextprotocol/ui" in (capabilities.extensions or {})


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_apps_gets_the_same_answers_as_one_with_apps(
    replay_settings, mode
) -> None:
    calls = ["get_strategy", "get_portfolio", "get_digest"]
    async with connector(replay_settings, mode)() as plain:
        sid = (await create(plain))["strategy_id"]
        await ok(plain, "run_cycle_now", strategy_id=sid)
        without = [await plain.call_tool(name, {"strategy_id": sid}) for name in calls]
    async with apps_client(build_server(replay_settings)) as with_apps:
        answered = [await with_apps.call_tool(name, {"strategy_id": sid}) for name in calls]
    for name, a, b in zip(calls, without, answered, strict=True):
        assert not a.is_error, name
        assert a.structured_content == b.structured_content, name
        assert [c.type for c in a.content] == ["text"], name  # text only, as before
        assert json.loads(a.content[0].text) == a.structured_content, name


async def test_the_chart_series_match_the_stored_cycles(replay_settings) -> None:
    async with connector(replay_settings, "auto")() as client:
        sid = (await create(client, initial_capital=1000))["strategy_id"]
        outcomes = [await ok(client, "run_cycle_now", strategy_id=sid) for _ in range(3)]
        charted = await ok(client, "get_chart_series", strategy_id=sid)
        cycles = await ok(client, "list_cycles", strategy_id=sid)
    assert charted["cycles"] == 3
    assert charted["equity"] == [[c["ts"], c["equity"]] for c in cycles["cycles"]]
    assert [ts for ts, _ in charted["equity"]] == [o["ts"] for o in outcomes]
    assert {p["symbol"] for p in charted["prices"]} == {"BTC-USDT", "ETH-USDT"}
    assert charted["buy_and_hold"][0][0] == outcomes[0]["ts"]
    assert all(dd >= 0 for _, dd in charted["drawdown_pct"])


async def test_the_chart_series_of_an_unknown_strategy_is_a_clear_error(replay_settings) -> None:
    async with connector(replay_settings, "auto")() as client:
        result = await client.call_tool("get_chart_series", {"strategy_id": "s_0000000000000000"})
    assert result.is_error
    assert "s_0000000000000000" in result.content[0].text


async def test_a_backtest_run_opens_in_the_dashboard_by_its_run_id(replay_settings) -> None:
    window = {"start": "2025-01-01", "end": "2025-01-03"}
    async with connector(replay_settings, "auto")() as client:
        run = await ok(client, "run_backtest", symbols=["BTC-USDT"], initial_capital=1000, **window)
        charted = await ok(client, "get_chart_series", strategy_id=run["run_id"])
        cycles = await ok(client, "list_cycles", strategy_id=run["run_id"], limit=500)
    assert charted["cycles"] == len(cycles["cycles"]) == run["cycles_done"] > 0
    assert charted["equity"][-1][1] == pytest.approx(run["stats"]["final_equity"])
    assert [p["symbol"] for p in charted["prices"]] == ["BTC-USDT"]
