"""Live setup: capital from the real balance, reconciliation on start, closing only own positions."""

from __future__ import annotations

import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from tests.execution.fake_exchange.engine import Reject
from tests.execution.harness import (
    SENTINEL_KEY,
    SENTINEL_PASSPHRASE,
    SENTINEL_SECRET,
    fake_account,
    open_rig,
)
from tests.fakes import instruction, snapshot
from tests.live.helpers import LIVE_ENV, live_request, registered_fake
from tradeloop.services.live import (
    close_own_positions,
    compare_positions,
    intent_positions,
    open_live_gateway,
    reconcile,
    with_live_capital,
)
from tradeloop.services.live_gate import LiveGate, live_params
from tradeloop.store.db import Database
from tradeloop.store.intents import SqliteIntentStore
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.execution.ccxt_trading import LiveOrderConfig
from tradeloop.trading.execution.intents import IntentStatus
from tradeloop.trading.models import MarketType, TradeAction, TradeSide, TxResult, TxStatus

D = Decimal
PERP = MarketType.PERPETUAL
PRICES = [snapshot("BTC-USDT", 50000.0)]


def open_long(qty: float, compose_id: str = "c_1"):
    return instruction(
        "BTC-USDT",
        TradeSide.BUY,
        qty,
        compose_id=compose_id,
        action=TradeAction.OPEN_LONG,
        leverage=2.0,
    )


async def test_initial_capital_is_capped_by_the_accounts_available_cash() -> None:
    rig = await open_rig(account=fake_account(cash=D("2345.67")))
    try:
        more = await with_live_capital(rig.gateway, live_request(initial_capital=5000))
        less = await with_live_capital(rig.gateway, live_request(initial_capital=1000))
        assert more.trading_config.initial_capital == 2345.67  # all there is
        assert less.trading_config.initial_capital == 1000  # what was asked
    finally:
        await rig.close()


async def test_reconciliation_settles_an_unknown_outcome_and_hands_its_fill_over() -> None:
    rig = await open_rig(config=LiveOrderConfig(lookup_polls=1, read_attempts=2))
    faults = rig.account.faults
    faults.accept_then_timeout = 1
    faults.network_fail_next, faults.network_fail_paths = 2, ("GET /fapi/v1/order",)
    try:
        [pending] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert pending.status is TxStatus.ERROR  # accepted, timed out, lookups unreachable
        applied: list[TxResult] = []

        async def apply(fills: list[TxResult]) -> None:
            applied.extend(fills)

        report = await reconcile(
            rig.gateway,
            symbols=["BTC-USDT"],
            apply_fills=apply,
            stored_positions=lambda: intent_positions(rig.intents, "s_live"),
        )
        assert [i.client_order_id for i in report.settled] == [pending.client_order_id]
        assert [f.filled_qty for f in applied] == [0.01]
        assert report.ok and report.stored_positions == report.exchange_positions == {
            "BTC-USDT": D("0.01")
        }
    finally:
        await rig.close()


async def test_a_position_the_store_does_not_know_pauses_with_both_numbers() -> None:
    rig = await open_rig(config=LiveOrderConfig(lookup_polls=1))
    rig.account.faults.accept_then_timeout = 1
    rig.account.faults.hide_for_lookups = 1  # shows up only after the one lookup gave up
    try:
        [tx] = await rig.gateway.execute([open_long(0.01)], PRICES)
        assert tx.status is TxStatus.REJECTED  # settled NOT_FOUND, yet it filled on the venue
        report = await reconcile(
            rig.gateway,
            symbols=["BTC-USDT"],
            stored_positions=lambda: intent_positions(rig.intents, "s_live"),
        )
        assert (
            report.exchange_positions == {"BTC-USDT": D("0.01")} and report.stored_positions == {}
        )
        assert not report.ok and "stored 0, exchange 0.01" in (report.pause_reason or "")
    finally:
        await rig.close()


async def test_reconciliation_is_clean_when_every_order_is_accounted_for() -> None:
    rig = await open_rig()
    try:
        await rig.gateway.execute([open_long(0.01)], PRICES)
        report = await reconcile(
            rig.gateway,
            symbols=["BTC-USDT"],
            stored_positions=lambda: intent_positions(rig.intents, "s_live"),
        )
        assert report.ok and report.pause_reason is None
        assert report.free_cash is not None and report.free_cash > 0
    finally:
        await rig.close()


async def test_an_unreachable_venue_leaves_unresolved_orders_and_a_pause_reason() -> None:
    rig = await open_rig(config=LiveOrderConfig(read_attempts=1))
    rig.account.faults.accept_then_timeout = 1
    rig.account.faults.network_fail_next, rig.account.faults.network_fail_paths = (
        99,
        ("GET /fapi/v1/order",),
    )
    try:
        await rig.gateway.execute([open_long(0.01)], PRICES)
        report = await reconcile(
            rig.gateway,
            symbols=["BTC-USDT"],
            stored_positions=lambda: intent_positions(rig.intents, "s_live"),
        )
        assert len(report.unresolved) == 1 and "unknown outcome" in (report.pause_reason or "")
    finally:
        await rig.close()


def test_positions_compare_exactly_on_perpetuals_and_as_at_least_on_spot() -> None:
    stored, others = {"BTC-USDT": D("0.01")}, {"BTC-USDT": D("0.02")}
    assert compare_positions(stored, {"BTC-USDT": D("0.03")}, others, spot=False) == []
    assert compare_positions(stored, {"BTC-USDT": D("0.04")}, others, spot=False)
    assert compare_positions(stored, {"BTC-USDT": D("0.04")}, others, spot=True) == []
    assert compare_positions(stored, {"BTC-USDT": D("0.02")}, others, spot=True)
    assert compare_positions({}, {"ETH-USDT": D("1")}, {}, spot=False)  # unknown position: mismatch


async def test_stop_closes_only_the_strategys_own_quantity_and_leaves_the_rest() -> None:
    rig = await open_rig()
    rig.account.positions["BTCUSDT"] = D("0.05")  # 0.02 ours, 0.03 someone else's
    try:
        results = await close_own_positions(
            rig.gateway, {"BTC-USDT": D("0.02")}, compose_id="stop_1"
        )
        assert [(r.status, r.filled_qty) for r in results] == [(TxStatus.FILLED, 0.02)]
        assert rig.account.positions["BTCUSDT"] == D("0.03")
        assert rig.account.orders[0].reduce_only is True
    finally:
        await rig.close()


async def test_stop_never_closes_more_than_the_exchange_holds_or_the_other_side() -> None:
    rig = await open_rig()
    rig.account.positions["BTCUSDT"] = D("-0.01")  # short on the account; we think we are long
    try:
        results = await close_own_positions(
            rig.gateway, {"BTC-USDT": D("0.02")}, compose_id="stop_2"
        )
        assert [r.status for r in results] == [TxStatus.REJECTED]
        assert "not closed" in (results[0].reason or "") and rig.account.orders == []
        rig.account.positions["BTCUSDT"] = D("0.01")
        results = await close_own_positions(
            rig.gateway, {"BTC-USDT": D("0.02")}, compose_id="stop_3"
        )
        assert results[0].filled_qty == 0.01 and rig.account.positions["BTCUSDT"] == 0
    finally:
        await rig.close()


async def test_a_sentinel_key_never_appears_in_logs_results_or_database_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # ccxt logs request headers, API key included, at DEBUG
    account = fake_account("okx", PERP)  # OKX: key and passphrase travel in headers
    db = await Database.open(tmp_path / "live.db")
    try:
        async with registered_fake(account, "okx", PERP, "main"):
            request = live_request(exchange_id="okx")
            gate = LiveGate(enabled=True, clock=SimulatedClock(0))
            params = live_params("create", request)
            approval = gate.approve_elicited(True, "create", params)
            gateway = open_live_gateway(
                gate,
                approval,
                "create",
                request,
                intents=SqliteIntentStore(db),
                strategy_id="s_secret",
                environ=LIVE_ENV,
                lookup_polls=3,
                backoff_s=0.0,
            )
            account.faults.accept_then_timeout = 1
            account.faults.hide_for_lookups = 1
            outputs: list[str] = [(await with_live_capital(gateway, request)).model_dump_json()]
            results = await gateway.execute([open_long(0.05)], PRICES)
            account.faults.reject_next = [Reject.INSUFFICIENT_FUNDS]
            results += await gateway.execute([open_long(0.05, "c_2")], PRICES)
            report = await reconcile(
                gateway,
                symbols=["BTC-USDT"],
                stored_positions=lambda: intent_positions(gateway.intents, "s_secret"),
            )
            outputs += [r.model_dump_json() for r in results] + [
                repr(report),
                str(report.pause_reason),
            ]
            assert results[0].status is TxStatus.FILLED and results[1].status is TxStatus.REJECTED
        rows = _dump(tmp_path / "live.db")
    finally:
        await db.close()
    assert any("Request" in r.getMessage() for r in caplog.records)  # ccxt did log its requests
    for secret in (SENTINEL_KEY, SENTINEL_SECRET, SENTINEL_PASSPHRASE):
        assert secret not in caplog.text
        assert all(secret not in text for text in outputs)
        assert secret not in rows


def _dump(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return json.dumps([list(row) for row in conn.iterdump()])
    finally:
        conn.close()


async def test_intents_of_a_strategy_settle_to_final_states_in_sqlite(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "live.db")
    rig = await open_rig(intents=SqliteIntentStore(db))
    try:
        await rig.gateway.execute([open_long(0.01)], PRICES)
        [stored] = await rig.intents.list_intents("s_live")
        assert stored.status is IntentStatus.FILLED and stored.exchange_order_id
    finally:
        await rig.close()
        await db.close()
