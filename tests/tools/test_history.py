"""Digest and history tools through a real MCP session: stats, pages, one whole cycle."""

from __future__ import annotations

import math
import statistics

import pytest

from tests.tools.conftest import create, error, ok


async def run_cycles(client, sid: str, n: int) -> list[dict]:
    return [await ok(client, "run_cycle_now", strategy_id=sid) for _ in range(n)]


async def test_get_digest_equals_the_digest_computed_from_the_listed_trades_and_cycles(
    connect_trading,
) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        await run_cycles(client, sid, 4)
        digest = await ok(client, "get_digest", strategy_id=sid)
        trades = (await ok(client, "list_trades", strategy_id=sid, limit=500))["trades"]
        cycles = (await ok(client, "list_cycles", strategy_id=sid, limit=500))["cycles"]
        details = [await ok(client, "get_cycle", compose_id=c["compose_id"]) for c in cycles]
        interval_s = (await ok(client, "get_strategy", strategy_id=sid))["decide_interval"]
    assert digest["strategy_id"] == sid
    closed = [t for t in trades if t["exit_price"] is not None]
    assert set(digest["by_instrument"]) == {"BTC-USDT", "ETH-USDT"}
    for symbol, entry in digest["by_instrument"].items():
        mine = [t for t in closed if t["instrument"]["symbol"] == symbol]
        assert entry["trade_count"] == len(mine) == 2
        assert entry["realized_pnl"] == pytest.approx(sum(t["realized_pnl"] for t in mine))
        wins = sum(1 for t in mine if t["realized_pnl"] - t["round_trip_fees"] > 0)
        assert entry["win_rate"] == pytest.approx(wins / len(mine))
        assert entry["avg_holding_ms"] == sum(t["holding_ms"] for t in mine) // len(mine)
        assert entry["last_trade_ts"] == max(
            t["exit_ts"] or t["entry_ts"] for t in trades if t["instrument"]["symbol"] == symbol
        )
    fees = sum(tx["fee_cost"] for c in details for tx in c["tx_results"])
    assert digest["fees_paid"] == pytest.approx(fees, rel=1e-12) and fees > 0
    assert digest["realized_pnl"] == pytest.approx(sum(t["realized_pnl"] for t in closed))
    equity = [c["equity"] for c in cycles]
    assert digest["equity"] == equity[-1]
    assert digest["total_return_pct"] == pytest.approx((equity[-1] / 10_000 - 1) * 100)
    peak, worst = equity[0], 0.0
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, (peak - value) / peak * 100)
    assert digest["max_drawdown_pct"] == pytest.approx(worst, rel=1e-9) and worst > 0
    # per-cycle returns (the first from the capital), sample stdev, annualized by
    # sqrt(cycles in a 365-day year); Sortino over the downside deviation of all returns
    levels = [10_000, *equity]
    returns = [b / a - 1 for a, b in zip(levels, levels[1:], strict=False)]
    annualize = math.sqrt(365 * 24 * 3600 / interval_s)
    per_cycle = statistics.mean(returns) / statistics.stdev(returns)
    assert digest["sharpe_ratio"] == pytest.approx(per_cycle * annualize, rel=1e-9)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    sortino = statistics.mean(returns) / downside * annualize
    assert digest["sortino_ratio"] == pytest.approx(sortino, rel=1e-9)


async def test_each_fee_appears_once_in_list_trades_and_they_add_up_to_fees_paid(
    connect_trading,
) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        outcomes = await run_cycles(client, sid, 5)  # open, close, open, close, open
        trades = (await ok(client, "list_trades", strategy_id=sid, limit=500))["trades"]
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
        digest = await ok(client, "get_digest", strategy_id=sid)
        fills = [
            tx
            for o in outcomes
            for tx in (await ok(client, "get_cycle", compose_id=o["compose_id"]))["tx_results"]
            if tx["filled_qty"] > 0
        ]
        strategy = await ok(client, "get_strategy", strategy_id=sid)
        fee_rate = strategy["config"]["fee_bps"] / 10_000
    paid = sum(tx["filled_qty"] * tx["avg_exec_price"] * fee_rate for tx in fills)
    assert len(fills) == 10 and paid > 0
    assert sum(t["fee_cost"] for t in trades) == pytest.approx(paid, rel=1e-9)
    assert portfolio["fees_paid"] == pytest.approx(paid, rel=1e-9)
    assert digest["fees_paid"] == pytest.approx(paid, rel=1e-9)
    for symbol in ("BTC-USDT", "ETH-USDT"):
        mine = [t for t in trades if t["instrument"]["symbol"] == symbol]
        opens = [t for t in mine if t["exit_price"] is None]
        closes = [t for t in mine if t["exit_price"] is not None]
        assert len(opens) == 3 and len(closes) == 2
        for opened, closed in zip(opens, closes, strict=False):  # each close ends the open before
            exit_fee = closed["quantity"] * closed["exit_price"] * fee_rate
            assert closed["fee_cost"] == pytest.approx(exit_fee, rel=1e-9)
            assert closed["round_trip_fees"] == pytest.approx(
                exit_fee + opened["fee_cost"], rel=1e-9
            )
            assert opened["round_trip_fees"] is None


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
    assert cycle["guard_notes"] == []
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
