"""Resources (config, portfolio and digest per strategy) and prompts through a real session."""

from __future__ import annotations

import json

import pytest
from mcp import MCPError

from tests.tools.conftest import create, ok


async def test_every_strategy_exposes_config_portfolio_and_digest_resources(connect) -> None:
    async with connect() as client:
        templates = (await client.list_resource_templates()).resource_templates
        sid = (await create(client))["strategy_id"]
        await ok(client, "run_cycle_now", strategy_id=sid)
        read = {
            part: json.loads(
                (await client.read_resource(f"tradeloop://strategies/{sid}/{part}"))
                .contents[0]
                .text
            )
            for part in ("config", "portfolio", "digest")
        }
    assert {t.uri_template for t in templates} == {
        "tradeloop://strategies/{strategy_id}/config",
        "tradeloop://strategies/{strategy_id}/portfolio",
        "tradeloop://strategies/{strategy_id}/digest",
    }
    assert all(t.mime_type == "application/json" for t in templates)
    assert read["config"]["config"]["symbols"] == ["BTC-USDT", "ETH-USDT"]
    assert read["portfolio"]["strategy_id"] == sid and "equity" in read["portfolio"]
    assert read["digest"]["strategy_id"] == sid


def strategies_of(resources: list) -> list:
    return [r for r in resources if str(r.uri).startswith("tradeloop://strategies/")]


async def test_resources_list_names_each_strategys_config_portfolio_and_digest(connect) -> None:
    async with connect() as client:
        before = strategies_of((await client.list_resources()).resources)
        first = (await create(client, name="alpha"))["strategy_id"]
        second = (await create(client, name="beta", symbols=["ETH-USDT"]))["strategy_id"]
        listed = strategies_of((await client.list_resources()).resources)
        readable = [
            json.loads((await client.read_resource(r.uri)).contents[0].text) for r in listed
        ]
    assert before == []
    assert {str(r.uri) for r in listed} == {
        f"tradeloop://strategies/{sid}/{part}"
        for sid in (first, second)
        for part in ("config", "portfolio", "digest")
    }
    assert all(r.mime_type == "application/json" for r in listed)
    assert {r.name for r in listed if str(r.uri).endswith("/config")} == {
        "alpha config",
        "beta config",
    }
    assert len(readable) == 6


async def test_reading_the_resource_of_an_unknown_strategy_is_not_found(connect) -> None:
    async with connect() as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("tradeloop://strategies/s_nope000000000000/config")
    assert raised.value.error.code == -32602
    assert "no strategy with id" in raised.value.error.message


async def test_prompts_start_a_paper_strategy_and_review_one(connect) -> None:
    async with connect() as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        start = await client.get_prompt(
            "start_paper_strategy", {"symbols": "BTC-USDT", "initial_capital": "5000"}
        )
        review = await client.get_prompt("review_strategy", {"strategy_id": "s_1"})
    assert {"start_paper_strategy", "review_strategy"} <= names
    start_text = start.messages[0].content.text
    assert "create_strategy" in start_text and "5000 USDT" in start_text
    assert "get_digest" in review.messages[0].content.text
