"""The same gateway on OKX swap, Bybit linear and the spot markets: only the venue table differs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.execution.fake_exchange.engine import Reject
from tests.execution.harness import credentials, fake_account, open_rig
from tests.fakes import instruction, snapshot
from tradeloop.trading.errors import OperationalError
from tradeloop.trading.models import MarketType, TradeAction, TradeSide, TxStatus

D = Decimal
PERP, SPOT = MarketType.PERPETUAL, MarketType.SPOT
VENUES = [("okx", PERP), ("bybit", PERP), ("binance", SPOT), ("okx", SPOT), ("bybit", SPOT)]
PRICES = [snapshot("BTC-USDT", 50000.0), snapshot("ETH-USDT", 3000.0)]


def _id(venue: str, market_type: MarketType) -> str:
    if venue == "okx":
        return "BTC-USDT-SWAP" if market_type is PERP else "BTC-USDT"
    return "BTCUSDT"


def buy(qty: float, compose_id: str = "c_open"):
    return instruction(
        "BTC-USDT",
        TradeSide.BUY,
        qty,
        compose_id=compose_id,
        action=TradeAction.OPEN_LONG,
        leverage=2.0,
    )


def sell(qty: float, compose_id: str = "c_close"):
    return instruction(
        "BTC-USDT", TradeSide.SELL, qty, compose_id=compose_id, action=TradeAction.CLOSE_LONG
    )


@pytest.mark.parametrize(("venue", "market_type"), VENUES)
async def test_an_open_and_its_close_fill_and_the_positions_read_back_match(
    venue, market_type
) -> None:
    rig = await open_rig(venue, market_type)
    try:
        [opened] = await rig.gateway.execute([buy(0.05)], PRICES)
        assert opened.status is TxStatus.FILLED
        held = await rig.gateway.fetch_positions(["BTC-USDT"])
        assert held["BTC-USDT"] == rig.account.base_position(_id(venue, market_type))
        assert held["BTC-USDT"] == D(str(opened.filled_qty))
        [closed] = await rig.gateway.execute([sell(opened.filled_qty)], PRICES)
        assert closed.status is TxStatus.FILLED
        after = await rig.gateway.fetch_positions(["BTC-USDT"])
        assert after["BTC-USDT"] == rig.account.base_position(_id(venue, market_type)) == 0
        assert rig.account.duplicates() == {}
    finally:
        await rig.close()


async def test_okx_amounts_are_contracts_of_the_markets_contract_size() -> None:
    rig = await open_rig("okx", PERP)
    try:
        [tx] = await rig.gateway.execute([buy(0.057349)], PRICES)
        order = rig.account.orders[0]
        assert order.amount == D("5.73")  # 0.01 BTC per contract, lot size 0.01, rounded down
        assert tx.filled_qty == 0.0573
        assert rig.account.margin_mode["BTC-USDT-SWAP"] == "cross"  # set with the leverage
        assert rig.account.leverage["BTC-USDT-SWAP"] == 2
        assert set(rig.dialect.simulated_headers) == {"1"}  # demo trading on every private call
    finally:
        await rig.close()


async def test_a_spot_buy_books_the_base_fee_as_less_quantity_and_a_quote_fee() -> None:
    rig = await open_rig("binance", SPOT)
    try:
        [tx] = await rig.gateway.execute([buy(0.01)], PRICES)
        assert tx.filled_qty == pytest.approx(0.01 * (1 - 0.0004))
        assert tx.fee_cost == pytest.approx(0.01 * 0.0004 * 50000)
        held = await rig.gateway.fetch_positions(["BTC-USDT"])
        assert held["BTC-USDT"] == D(str(tx.filled_qty))
    finally:
        await rig.close()


@pytest.mark.parametrize(("venue", "market_type"), VENUES)
async def test_an_accepted_order_that_timed_out_and_shows_late_is_found_not_resent(
    venue, market_type
) -> None:
    rig = await open_rig(venue, market_type)
    rig.account.faults.accept_then_timeout = 1
    rig.account.faults.hide_for_lookups = 2
    try:
        [tx] = await rig.gateway.execute([buy(0.05)], PRICES)
        assert tx.status is TxStatus.FILLED
        assert len(rig.account.orders) == 1 and rig.account.duplicates() == {}
    finally:
        await rig.close()


@pytest.mark.parametrize(("venue", "market_type"), VENUES)
async def test_insufficient_funds_is_a_final_rejection(venue, market_type) -> None:
    rig = await open_rig(venue, market_type)
    rig.account.faults.reject_next = [Reject.INSUFFICIENT_FUNDS]
    try:
        [tx] = await rig.gateway.execute([buy(0.05)], PRICES)
        assert tx.status is TxStatus.REJECTED and "InsufficientFunds" in (tx.reason or "")
        assert rig.account.orders == []
    finally:
        await rig.close()


@pytest.mark.parametrize(("venue", "market_type"), VENUES)
async def test_bad_credentials_raise_an_operational_error(venue, market_type) -> None:
    rig = await open_rig(venue, market_type, creds=credentials(venue, secret="wrong-secret-000"))
    try:
        with pytest.raises(OperationalError):
            await rig.gateway.execute([buy(0.05)], PRICES)
        assert rig.account.orders == []
    finally:
        await rig.close()


@pytest.mark.parametrize(("venue", "market_type"), [("okx", PERP), ("bybit", PERP)])
async def test_rate_limited_position_reads_are_retried(venue, market_type) -> None:
    rig = await open_rig(venue, market_type)
    rig.account.faults.rate_limit_next = 2
    rig.account.faults.rate_limit_paths = ("position",)
    try:
        held = await rig.gateway.fetch_positions(["BTC-USDT"])
        assert held == {"BTC-USDT": D(0)}
        assert len(rig.sleeps) == 2
    finally:
        await rig.close()


async def test_the_available_cash_is_read_from_the_account() -> None:
    rig = await open_rig("bybit", PERP, account=fake_account("bybit", PERP, cash=D("1234.5")))
    try:
        assert await rig.gateway.fetch_cash("USDT") == (D("1234.5"), D("1234.5"))
    finally:
        await rig.close()


@pytest.mark.parametrize(
    ("venue", "market_type"), [("binance", PERP), ("okx", PERP), ("bybit", PERP)]
)
async def test_positions_of_several_symbols_are_read_in_base_units(venue, market_type) -> None:
    rig = await open_rig(venue, market_type)
    eth = instruction(
        "ETH-USDT", TradeSide.SELL, 0.5, compose_id="c_eth", action=TradeAction.OPEN_SHORT
    )
    try:
        await rig.gateway.execute([buy(0.05), eth], PRICES)
        held = await rig.gateway.fetch_positions(["BTC-USDT", "ETH-USDT"])
        assert held == {"BTC-USDT": D("0.05"), "ETH-USDT": D("-0.5")}
    finally:
        await rig.close()
