"""Digest and history tools through a real MCP session: stats, pages, one whole cycle."""

from __future__ import annotations

from tests.tools.conftest import create, error, ok


async def run_cycles(client, sid: str, n: int) -> list[dict]:
    return [await ok(client, "run_cycle_now", strategy_id=sid) for _ in range(n)]


async def test_get_digest_reports_per_instrument_stats_and_portfolio_metrics(
    connect_trading,
) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        await run_cycles(client, sid, 4)
        digest = await ok(client, "get_digest", strategy_id=sid)
    assert digest["strategy_id"] == sid
    assert set(digest["by_instrument"]) == {"BTC-USDT", "ETH-USDT"}
    assert digest["by_instrument"]["BTC-USDT"]["trade_count"] == 2
    assert digest["fees_paid"] > 0
    for key in ("sharpe_ratio", "max_drawdown_pct", "total_return_pct", "realized_pnl"):
        assert key in digest


async def test_list_trades_pages_with_a_cursor_and_filters_by_symbol(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        await run_cycles(client, sid, 4)
        seen, cursor = [], None
        while True:
            args = {"strategy_id": sid, "limit": 3} | ({"cursor": cursor} if cursor else {})
            page = await ok(client, "list_trades", **args)
            seen += page["trades"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = await ok(client, "list_trades", strategy_id=sid, limit=500)
        btc = await ok(client, "list_trades", strategy_id=sid, symbol="BTCUSDT")
        newest = await ok(client, "list_trades", strategy_id=sid, limit=1, newest_first=True)
    assert seen == everything["trades"]
    assert len(seen) == 8  # two opens and two closes per symbol
    assert {t["instrument"]["symbol"] for t in btc["trades"]} == {"BTC-USDT"}
    assert newest["trades"] == everything["trades"][-1:]


async def test_list_cycles_pages_and_filters_by_status(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        ran = await run_cycles(client, sid, 3)
        first = await ok(client, "list_cycles", strategy_id=sid, limit=2)
        rest = await ok(client, "list_cycles", strategy_id=sid, cursor=first["next_cursor"])
        errors = await ok(client, "list_cycles", strategy_id=sid, status="error")
    ids = [c["compose_id"] for c in first["cycles"] + rest["cycles"]]
    assert ids == [r["compose_id"] for r in ran]
    assert rest["next_cursor"] is None
    assert first["cycles"][0]["fills"] == 2 and first["cycles"][0]["kind"] == "decision"
    assert errors["cycles"] == []


async def test_get_cycle_returns_everything_stored_for_one_compose_id(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        ran = (await run_cycles(client, sid, 1))[0]
        cycle = await ok(client, "get_cycle", compose_id=ran["compose_id"])
    assert cycle["compose_id"] == ran["compose_id"]
    assert {f["instrument"]["symbol"] for f in cycle["features"]} == {"BTC-USDT", "ETH-USDT"}
    assert any("rsi" in f["values"] for f in cycle["features"])
    assert cycle["raw"] == {"flip": ["BTC-USDT", "ETH-USDT"]}
    assert cycle["rationale"] == "flip every cycle"
    assert len(cycle["proposed"]) == len(cycle["instructions"]) == 2
    assert "guard_notes" in cycle
    assert [tx["status"] for tx in cycle["tx_results"]] == ["FILLED", "FILLED"]
    assert set(cycle["portfolio"]["positions"]) == {"BTC-USDT", "ETH-USDT"}


async def test_guardrail_drops_are_stored_with_their_reason(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client, max_positions=1))["strategy_id"]
        ran = (await run_cycles(client, sid, 1))[0]
        cycle = await ok(client, "get_cycle", compose_id=ran["compose_id"])
    assert len(ran["dropped"]) == 1
    assert ran["dropped"][0]["outcome"] == "dropped"
    assert cycle["guard_notes"][0]["reason"] == ran["dropped"][0]["reason"]


async def test_history_tools_reject_an_unknown_cycle_or_a_bad_cursor(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        assert "no cycle with compose_id 'c_nope'" in await error(
            client, "get_cycle", compose_id="c_nope"
        )
        assert "invalid cursor 'abc'" in await error(
            client, "list_trades", strategy_id=sid, cursor="abc"
        )
