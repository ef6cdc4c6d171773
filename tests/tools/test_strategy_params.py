"""The strategy configuration is declared once: every tool that takes it shows each argument the
same way (type, bounds, description), optional where the tool changes only what is given."""

from __future__ import annotations

from mcp import Client

from tradeloop.server.app import build_server

CONFIG_TOOLS = ("create_strategy", "update_strategy", "run_backtest")
SHARED = ("decide_interval", "max_leverage", "max_positions", "composer", "template", "name")


async def schemas(settings) -> dict[str, dict]:
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    return {t.name: t.input_schema for t in tools if t.name in CONFIG_TOOLS}


def without_none(schema: dict) -> dict:
    """An optional argument's schema as its required form: the non-null branch, its metadata."""
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    body = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**body, **branches[0]} if branches else body


async def test_every_config_tool_describes_a_shared_argument_identically(settings) -> None:
    found = await schemas(settings)
    for name in SHARED:
        described = {tool: without_none(found[tool]["properties"][name]) for tool in CONFIG_TOOLS}
        assert len({repr(sorted(d.items())) for d in described.values()}) == 1, (name, described)


async def test_create_and_backtest_share_defaults_and_update_changes_only_what_is_given(
    settings,
) -> None:
    found = await schemas(settings)
    create, update, backtest = (found[t] for t in CONFIG_TOOLS)
    assert create["properties"]["decide_interval"]["default"] == 3600
    assert backtest["properties"]["decide_interval"]["default"] == 3600
    assert set(create["required"]) == set(backtest["required"]) == {"symbols", "initial_capital"}
    assert update["required"] == ["strategy_id"]
    assert all(update["properties"][n].get("default", "absent") is None for n in SHARED)
