"""Portfolio tools through a real MCP session: the PortfolioView, closing one position."""

from __future__ import annotations

import pytest

from tests.tools.conftest import create, error, ok


async def test_get_portfolio_of_a_new_strategy_is_all_cash(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
        digest = await ok(client, "get_digest", strategy_id=sid)
        created = (await ok(client, "get_strategy", strategy_id=sid))["created"]
    assert portfolio["account_balance"] == portfolio["cash"] == 10_000
    assert portfolio["equity"] == 10_000
    assert portfolio["positions"] == {}
    assert portfolio["leverage"] == 0
    assert portfolio["constraints"]["max_positions"] == 5
    assert portfolio["as_of"] == digest["as_of"] == created  # opened then; never 1970-01-01


async def test_get_portfolio_equals_the_portfolio_computed_from_the_cycle_s_fills(
    connect_trading,
) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        ran = await ok(client, "run_cycle_now", strategy_id=sid)
        cycle = await ok(client, "get_cycle", compose_id=ran["compose_id"])
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
    # spot: each buy spends quantity x fill price plus its fee; positions are marked at the
    # cycle's snapshot price
    marks = {
        f["instrument"]["symbol"]: f["values"]["price"]
        for f in cycle["features"]
        if f["meta"]["group_by_key"] == "market_snapshot"
    }
    fills = {tx["instrument"]["symbol"]: tx for tx in cycle["tx_results"]}
    assert set(portfolio["positions"]) == set(fills) == {"BTC-USDT", "ETH-USDT"}
    cash = 10_000 - sum(
        tx["filled_qty"] * tx["avg_exec_price"] + tx["fee_cost"] for tx in fills.values()
    )
    fees = sum(tx["fee_cost"] for tx in fills.values())
    exposure = 0.0
    for symbol, position in portfolio["positions"].items():
        tx, mark = fills[symbol], marks[symbol]
        assert position["quantity"] == pytest.approx(tx["filled_qty"], rel=1e-12)
        assert position["avg_price"] == pytest.approx(tx["avg_exec_price"], rel=1e-12)
        assert position["mark_price"] == pytest.approx(mark, rel=1e-12)
        assert position["notional"] == pytest.approx(tx["filled_qty"] * mark, rel=1e-12)
        assert position["unrealized_pnl"] == pytest.approx(
            tx["filled_qty"] * (mark - tx["avg_exec_price"]), rel=1e-9
        )
        exposure += tx["filled_qty"] * mark
    assert portfolio["cash"] == portfolio["account_balance"] == pytest.approx(cash, rel=1e-12)
    assert portfolio["fees_paid"] == pytest.approx(fees, rel=1e-12) and fees > 0
    assert portfolio["equity"] == pytest.approx(cash + exposure, rel=1e-12)
    assert portfolio["gross_exposure"] == pytest.approx(exposure, rel=1e-12)
    assert portfolio["leverage"] == pytest.approx(exposure / (cash + exposure), rel=1e-12)
    assert portfolio["realized_pnl"] == 0.0


async def test_close_position_closes_one_symbol_through_the_gateway(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "run_cycle_now", strategy_id=sid)
        before = (await ok(client, "get_portfolio", strategy_id=sid))["positions"]["BTC-USDT"]
        closed = await ok(client, "close_position", strategy_id=sid, symbol="btc/usdt")
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
    assert closed["symbol"] == "BTC-USDT"
    assert closed["status"] == "FILLED"
    assert closed["filled_qty"] == pytest.approx(before["quantity"], rel=1e-12)
    # gross realized PnL of a long: quantity x (exit price - average entry price)
    expected = before["quantity"] * (closed["avg_exec_price"] - before["avg_price"])
    assert closed["realized_pnl"] == pytest.approx(expected, rel=1e-9)
    assert set(portfolio["positions"]) == {"ETH-USDT"}


async def test_closing_a_position_that_is_not_open_changes_nothing(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        text = await error(client, "close_position", strategy_id=sid, symbol="BTC-USDT")
        assert f"strategy {sid} has no open BTC-USDT position" in text
        assert (await ok(client, "get_strategy", strategy_id=sid))["cycles"] == 0


async def test_stop_with_close_positions_closes_them_and_reports_which(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "run_cycle_now", strategy_id=sid)
        stopped = await ok(client, "stop_strategy", strategy_id=sid, close_positions=True)
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
    assert stopped["status"] == "stopped"
    assert stopped["closed_positions"] == ["BTC-USDT", "ETH-USDT"]
    assert portfolio["positions"] == {}
