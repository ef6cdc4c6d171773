"""CCXTExecutionGateway on Binance USDT-M futures, through ccxt's real request path, with faults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.execution.fake_exchange.engine import Reject
from tests.execution.harness import SENTINEL_KEY, credentials, open_rig
from tests.fakes import instruction, snapshot
from tradeloop.trading.errors import OperationalError
from tradeloop.trading.execution.ccxt_trading import LiveOrderConfig
from tradeloop.trading.execution.client_ids import client_order_id, order_keys
from tradeloop.trading.execution.intents import IntentStatus
from tradeloop.trading.models import MarketType, TradeAction, TradeSide, TxStatus
from tradeloop.trading.venues import venue_profile

D = Decimal
BUY, SELL = TradeSide.BUY, TradeSide.SELL
PROFILE = venue_profile("binance", MarketType.PERPETUAL)
PRICES = [snapshot("BTC-USDT", 50000.0), snapshot("ETH-USDT", 3000.0)]


def open_long(qty: float, *, compose_id: str = "c_1", index: int = 0, leverage: float = 3.0):
    return instruction(
        "BTC-USDT",
        BUY,
        qty,
        index=index,
        compose_id=compose_id,
        action=TradeAction.OPEN_LONG,
        leverage=leverage,
    )


def close_long(qty: float, *, compose_id: str = "c_2", index: int = 0):
    return instruction(
        "BTC-USDT", SELL, qty, index=index, compose_id=compose_id, action=TradeAction.CLOSE_LONG
    )


async def test_a_market_open_sets_leverage_and_margin_then_fills_once_under_its_client_id() -> None:
    rig = await open_rig()
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        [key] = order_keys("s_live", [open_long(0.01)])
        cid = client_order_id(key, PROFILE)
        assert (tx.status, tx.filled_qty, tx.avg_exec_price) == (TxStatus.FILLED, 0.01, 50000.0)
        assert tx.client_order_id == cid and tx.exchange_order_id is not None
        assert tx.fee_cost == pytest.approx(0.2)  # read from the order's trades
        assert rig.account.orders_by_client_id() == {cid: 1}
        assert rig.account.leverage["BTCUSDT"] == 3
        assert rig.account.positions["BTCUSDT"] == D("0.01")
        intent = await rig.intents.get(cid)
        assert intent is not None and intent.status is IntentStatus.FILLED
        assert intent.filled_base == D("0.01")
    finally:
        await rig.close()


async def test_executing_the_same_instructions_again_sends_nothing_new() -> None:
    rig = await open_rig()
    try:
        first = await rig.gateway.execute([open_long(0.01)], PRICES)
        posts = _creates(rig)
        again = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert again == first
        assert _creates(rig) == posts == 1
    finally:
        await rig.close()


async def test_an_order_accepted_then_timed_out_is_found_by_client_id_not_resent() -> None:
    rig = await open_rig()
    rig.account.faults.accept_then_timeout = 1
    rig.account.faults.hide_for_lookups = 3  # the venue shows it only on the 4th lookup
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.FILLED and tx.filled_qty == 0.01
        assert _creates(rig) == 1
        assert rig.account.duplicates() == {}
        assert len(rig.sleeps) >= 3
    finally:
        await rig.close()


async def test_a_timeout_before_the_venue_saw_the_order_is_settled_as_not_placed() -> None:
    rig = await open_rig()
    rig.account.faults.timeout_before_accept = 1
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.REJECTED
        assert "not placed" in (tx.reason or "")
        assert rig.account.orders == [] and _creates(rig) == 1
        intent = await rig.intents.get(tx.client_order_id or "")
        assert intent is not None and intent.status is IntentStatus.NOT_FOUND
    finally:
        await rig.close()


async def test_an_unknown_outcome_the_venue_cannot_answer_blocks_new_orders_until_resolved() -> (
    None
):
    rig = await open_rig(config=LiveOrderConfig(read_attempts=2, lookup_polls=2))
    faults = rig.account.faults
    faults.accept_then_timeout = 1
    faults.network_fail_next, faults.network_fail_paths = 1000, ("GET /fapi/v1/order",)
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.ERROR and "outcome unknown" in (tx.reason or "")
        [blocked] = await rig.gateway.execute([open_long(0.02, compose_id="c_next")], PRICES)
        assert blocked.status is TxStatus.ERROR and "unresolved" in (blocked.reason or "")
        faults.network_fail_next = 0
        [sent] = await rig.gateway.execute([open_long(0.02, compose_id="c_next")], PRICES)
        assert sent.status is TxStatus.FILLED
        first = await rig.intents.get(tx.client_order_id or "")
        assert first is not None and first.status is IntentStatus.FILLED  # resolved, not resent
        assert rig.account.duplicates() == {} and len(rig.account.orders) == 2
    finally:
        await rig.close()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (Reject.INSUFFICIENT_FUNDS, "InsufficientFunds"),
        (Reject.MIN_NOTIONAL, "notional"),
        (Reject.BAD_PRECISION, "Precision"),
    ],
)
async def test_a_rejection_is_final_and_carries_the_venues_reason(kind: Reject, words: str) -> None:
    rig = await open_rig()
    rig.account.faults.reject_next = [kind]
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.REJECTED and words in (tx.reason or "")
        intent = await rig.intents.get(tx.client_order_id or "")
        assert intent is not None and intent.status is IntentStatus.REJECTED
        assert _creates(rig) == 1  # refused means refused: never resent
    finally:
        await rig.close()


async def test_a_rate_limited_create_is_looked_up_never_resent() -> None:
    rig = await open_rig(config=LiveOrderConfig(lookup_polls=3))
    rig.account.faults.rate_limit_next = 1
    rig.account.faults.rate_limit_paths = ("/fapi/v1/order",)
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.REJECTED and "not placed" in (tx.reason or "")
        assert _creates(rig) == 1 and rig.account.orders == []
    finally:
        await rig.close()


async def test_rate_limited_reads_are_retried_with_growing_backoff() -> None:
    rig = await open_rig()
    rig.account.faults.rate_limit_next = 2
    rig.account.faults.rate_limit_paths = ("/fapi/v3/positionRisk",)
    try:
        await rig.gateway.execute([open_long(0.01)], PRICES)
        positions = await rig.gateway.fetch_positions(["BTC-USDT", "ETH-USDT"])
        assert positions == {"BTC-USDT": D("0.01"), "ETH-USDT": D(0)}
        assert rig.sleeps[-2] < rig.sleeps[-1]
    finally:
        await rig.close()


async def test_an_order_shown_unfilled_at_first_is_followed_until_it_is_final() -> None:
    rig = await open_rig()
    rig.account.faults.fill_after_polls = 2
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.FILLED and tx.filled_qty == 0.01
    finally:
        await rig.close()


async def test_a_close_is_reduce_only_and_not_held_back_by_the_caps() -> None:
    config = LiveOrderConfig(max_order_value=D("100"), max_daily_traded_value=D("1"))
    rig = await open_rig(config=config)
    rig.account.positions["BTCUSDT"] = D("0.01")
    try:
        [tx] = await rig.gateway.execute([close_long(0.01)], PRICES)
        assert tx.status is TxStatus.FILLED
        assert rig.account.orders[0].reduce_only is True
        assert rig.account.positions["BTCUSDT"] == 0
    finally:
        await rig.close()


async def test_an_open_above_max_order_value_is_clamped_to_it() -> None:
    rig = await open_rig(config=LiveOrderConfig(max_order_value=D("1000")))
    try:
        [tx] = await rig.gateway.execute([open_long(0.05)], PRICES)
        assert tx.status is TxStatus.PARTIAL or tx.status is TxStatus.FILLED
        assert tx.filled_qty == 0.02  # 1000 / 50000, a multiple of the 0.001 step
        assert rig.account.orders[0].amount * D(50000) <= D(1000)
    finally:
        await rig.close()


async def test_the_daily_traded_value_cap_stops_opens_once_used_up() -> None:
    rig = await open_rig(config=LiveOrderConfig(max_daily_traded_value=D("1500")))
    try:
        [first] = await rig.gateway.execute([open_long(0.02)], PRICES)
        [second] = await rig.gateway.execute([open_long(0.02, compose_id="c_b")], PRICES)
        [third] = await rig.gateway.execute([open_long(0.02, compose_id="c_c")], PRICES)
        assert first.filled_qty == 0.02
        assert second.filled_qty == 0.01  # 500 left of 1500
        assert third.status is TxStatus.REJECTED and "max_daily_traded_value" in (
            third.reason or ""
        )
        rig.clock.advance(86_400)
        [next_day] = await rig.gateway.execute([open_long(0.02, compose_id="c_d")], PRICES)
        assert next_day.filled_qty == 0.02
    finally:
        await rig.close()


async def test_a_quantity_that_rounds_to_zero_is_dropped_with_a_reason_and_nothing_is_sent() -> (
    None
):
    rig = await open_rig()
    try:
        [tx] = await rig.gateway.execute([open_long(0.0004)], PRICES)
        assert tx.status is TxStatus.REJECTED and "rounds to zero" in (tx.reason or "")
        assert _creates(rig) == 0 and await rig.intents.list_intents() == []
    finally:
        await rig.close()


async def test_a_marketable_limit_order_that_cannot_fill_is_rejected_with_nothing_filled() -> None:
    rig = await open_rig(config=LiveOrderConfig(order_type="limit", max_slippage_bps=10))
    try:
        stale = [snapshot("BTC-USDT", 49000.0)]  # the venue is at 50000: a buy at 49049 cannot fill
        [tx] = await rig.gateway.execute([open_long(0.01)], stale)
        assert tx.status is TxStatus.REJECTED and "nothing filled" in (tx.reason or "")
        order = rig.account.orders[0]
        assert order.type == "limit" and order.price == D("49049.0")
    finally:
        await rig.close()


async def test_bad_credentials_stop_the_strategy_without_leaking_the_key() -> None:
    rig = await open_rig(creds=credentials("binance", secret="wrong-secret-123"))
    try:
        with pytest.raises(OperationalError) as raised:
            await rig.gateway.execute([open_long(0.01)], PRICES)
        assert "credentials" in str(raised.value)
        assert SENTINEL_KEY not in str(raised.value)
        assert rig.account.orders == []
    finally:
        await rig.close()


async def test_a_close_with_bad_credentials_settles_its_intent_as_rejected() -> None:
    rig = await open_rig(creds=credentials("binance", api_key="not-the-key-999"))
    rig.account.positions["BTCUSDT"] = D("0.01")
    try:
        with pytest.raises(OperationalError):
            await rig.gateway.execute([close_long(0.01)], PRICES)
        [intent] = await rig.intents.list_intents()
        assert intent.status is IntentStatus.REJECTED
    finally:
        await rig.close()


async def test_an_order_invisible_past_every_lookup_is_settled_not_placed_yet_never_resent() -> (
    None
):
    rig = await open_rig(config=LiveOrderConfig(lookup_polls=2))
    rig.account.faults.accept_then_timeout = 1
    rig.account.faults.hide_for_lookups = 100
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.REJECTED and "2 lookups" in (tx.reason or "")
        again = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert again == [tx] and _creates(rig) == 1  # the stored outcome stands; nothing resent
        # the order did fill at the venue: reconciliation compares positions and catches it
        assert (await rig.gateway.fetch_positions(["BTC-USDT"]))["BTC-USDT"] == D("0.01")
    finally:
        await rig.close()


async def test_a_clamped_order_says_so_and_market_rules_give_base_unit_constraints() -> None:
    rig = await open_rig(config=LiveOrderConfig(max_order_value=D("1000")))
    try:
        [tx] = await rig.gateway.execute([open_long(0.05)], PRICES)
        assert "clamped by max_order_value" in (tx.reason or "")
        rules = await rig.gateway.market_rules("BTC-USDT")
        assert (rules.base_step, rules.base_min_amount, rules.min_cost) == (
            D("0.001"),
            D("0.001"),
            D(5),
        )
    finally:
        await rig.close()


def _creates(rig) -> int:
    return sum(
        1 for method, path in rig.account.requests if method == "POST" and path == "/fapi/v1/order"
    )
