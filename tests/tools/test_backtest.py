"""Backtest tools through a real MCP session: a run with progress, and equity charts."""

from __future__ import annotations

import base64

from mcp import Client

from tests.tools.conftest import create, error, ok
from tradeloop.server.app import build_server

PNG = b"\x89PNG\r\n\x1a\n"
WINDOW = {"start": "2025-01-01", "end": "2025-01-08"}


async def test_run_backtest_reports_progress_and_returns_statistics(connect) -> None:
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        reports.append((done, total, message))

    async with connect() as client:
        result = await client.call_tool(
            "run_backtest",
            {"symbols": ["BTC-USDT", "ETH-USDT"], "initial_capital": 10_000} | WINDOW,
            progress_callback=on_progress,
        )
    assert not result.is_error, result.content[0].text
    summary = result.structured_content
    assert summary["run_id"].startswith("bt_")
    assert summary["status"] == "completed"
    assert summary["cycles_done"] == summary["cycles_total"] == 7 * 24 + 1
    assert summary["start"] == "2025-01-01T00:00:00Z"
    assert summary["stats"]["initial_equity"] == 10_000
    assert "max_drawdown_pct" in summary["stats"] and "sharpe_ratio" in summary["stats"]
    assert reports and reports[-1][0] == reports[-1][1] == summary["cycles_total"]
    assert "equity" in reports[-1][2]


async def test_get_equity_chart_draws_a_backtest_run_and_a_stored_strategy(connect) -> None:
    async with connect() as client:
        run = await ok(client, "run_backtest", symbols=["BTC-USDT"], initial_capital=1000, **WINDOW)
        sid = (await create(client))["strategy_id"]
        for _ in range(3):
            await ok(client, "run_cycle_now", strategy_id=sid)
        charts = [
            await client.call_tool("get_equity_chart", {"strategy_id": i})
            for i in (run["run_id"], sid)
        ]
        missing = await error(client, "get_equity_chart", strategy_id="bt_nope")
    for chart in charts:
        assert not chart.is_error
        image = chart.content[0]
        assert image.type == "image" and image.mime_type == "image/png"
        assert base64.b64decode(image.data).startswith(PNG)
    assert "bt_nope" in missing


async def test_a_backtest_needs_the_servers_replay_data(settings) -> None:
    async with Client(build_server(settings)) as client:
        text = await error(client, "run_backtest", symbols=["BTC-USDT"], initial_capital=100)
    assert "run_backtest needs historical candles" in text and "--replay DIR" in text


async def test_an_llm_backtest_needs_a_cost_cap(connect) -> None:
    async with connect() as client:
        text = await error(
            client, "run_backtest", symbols=["BTC-USDT"], initial_capital=100, composer="llm"
        )
    assert text.startswith("max_cost_usd: required when composer is 'llm'")


async def test_a_cost_cap_on_an_unpriced_model_is_refused_naming_the_field(connect) -> None:
    local = {"provider": "openai", "model": "llama3.1:8b", "base_url": "http://localhost:11434/v1"}
    args = {"symbols": ["BTC-USDT"], "initial_capital": 100, "composer": "llm", "max_cost_usd": 1}
    async with connect() as client:
        text = await error(client, "run_backtest", **args, llm_model=local)
        listed = await ok(client, "list_strategies")
    assert text.startswith("max_cost_usd: model 'llama3.1:8b' has no known price")
    assert "price_input_per_mtok" in text
    assert listed["strategies"] == []  # no run was stored


async def test_a_backtest_run_reads_like_a_stopped_strategy_and_cannot_be_started(connect) -> None:
    async with connect() as client:
        run = await ok(
            client,
            "run_backtest",
            symbols=["BTC-USDT"],
            initial_capital=1000,
            start="2025-01-01",
            end="2025-03-01",
        )
        rid = run["run_id"]
        trades = await ok(client, "list_trades", strategy_id=rid, limit=500)
        digest = await ok(client, "get_digest", strategy_id=rid)
        cycles = await ok(client, "list_cycles", strategy_id=rid, limit=5)
        detail = await ok(client, "get_strategy", strategy_id=rid)
        chart = await client.call_tool("get_equity_chart", {"strategy_id": rid})
        refused = await error(client, "start_strategy", strategy_id=rid)
        after = await ok(client, "get_strategy", strategy_id=rid)
    assert run["stats"]["trades"] > 0
    closed = [t for t in trades["trades"] if t["exit_price"] is not None]
    assert len(closed) == run["stats"]["trades"]
    assert digest["by_instrument"]["BTC-USDT"]["trade_count"] == run["stats"]["trades"]
    assert len(cycles["cycles"]) == 5 and cycles["next_cursor"] is not None
    assert detail["status"] == "stopped" and detail["reason"] == "backtest completed"
    assert detail["cycles"] == run["cycles_done"]
    assert not chart.is_error
    assert "is a stored backtest" in refused and "cannot run" in refused
    assert after["status"] == "stopped"
