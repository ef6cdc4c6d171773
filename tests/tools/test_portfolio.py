"""Portfolio tools through a real MCP session: the PortfolioView, closing one position."""

from __future__ import annotations

import pytest

from tests.tools.conftest import create, error, ok


async def test_get_portfolio_of_a_new_strategy_is_all_cash(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
        created = (await ok(client, "get_strategy", strategy_id=sid))["created"]
    assert portfolio["account_balance"] == portfolio["cash"] == 10_000
    assert portfolio["equity"] == 10_000
    assert portfolio["positions"] == {}
    assert portfolio["leverage"] == 0
    assert portfolio["constraints"]["max_positions"] == 5
    assert portfolio["as_of"] == created  # the account opened then; never 1970-01-01


async def test_get_portfolio_shows_positions_with_avg_and_mark_price(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "run_cycle_now", strategy_id=sid)
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
    assert set(portfolio["positions"]) == {"BTC-USDT", "ETH-USDT"}
    btc = portfolio["positions"]["BTC-USDT"]
    assert btc["quantity"] > 0
    assert btc["avg_price"] > 0 and btc["mark_price"] > 0
    assert "unrealized_pnl" in btc
    assert portfolio["fees_paid"] > 0
    assert portfolio["equity"] == pytest.approx(
        portfolio["cash"] + sum(p["notional"] for p in portfolio["positions"].values())
    )
    assert 0 < portfolio["leverage"] <= 1
    assert portfolio["buying_power"] is not None


async def test_close_position_closes_one_symbol_through_the_gateway(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "run_cycle_now", strategy_id=sid)
        closed = await ok(client, "close_position", strategy_id=sid, symbol="btc/usdt")
        portfolio = await ok(client, "get_portfolio", strategy_id=sid)
    assert closed["symbol"] == "BTC-USDT"
    assert closed["status"] == "FILLED"
    assert closed["filled_qty"] > 0
    assert closed["realized_pnl"] is not None
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
