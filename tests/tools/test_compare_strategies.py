"""compare_strategies through a real MCP session on the replayed candles, and its chart."""

from __future__ import annotations

import pytest

from tests.tools.conftest import connector, error, ok


@pytest.fixture
def connect(replay_settings):
    return connector(replay_settings, "auto")


async def test_two_rule_strategies_are_compared_with_buy_and_hold_and_charted(connect) -> None:
    strategies = [
        {"label": "rsi30", "symbols": ["BTC-USDT", "ETH-USDT"]},
        {
            "label": "rsi40 trend",
            "symbols": ["BTC-USDT", "ETH-USDT"],
            "rules": {"rsi_buy_below": 40, "rsi_sell_above": 70, "trend_filter": True},
        },
    ]
    async with connect() as client:
        result = await ok(
            client,
            "compare_strategies",
            strategies=strategies,
            start="2025-03-01",
            end="2025-03-15",
        )
        assert [s["label"] for s in result["strategies"]] == ["rsi30", "rsi40 trend"]
        assert result["start"].startswith("2025-03-01") and result["end"].startswith("2025-03-15")
        assert result["buy_and_hold"]["trades"] == 2
        assert {r["regime"] for r in result["regimes"]} == {"up", "between", "down"}
        chart = await client.call_tool("get_equity_chart", {"strategy_id": result["comparison_id"]})
        assert not chart.is_error and chart.content[0].type == "image"


async def test_an_llm_strategy_needs_a_cost_cap(connect) -> None:
    async with connect() as client:
        text = await error(
            client,
            "compare_strategies",
            strategies=[{"label": "claude", "symbols": ["BTC-USDT"], "composer": "llm"}],
        )
        assert "max_cost_usd" in text
