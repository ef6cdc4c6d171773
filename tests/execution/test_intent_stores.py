"""Both intent stores honour the same contract; the SQLite one survives a reopen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.store.db import Database
from tradeloop.store.intents import SqliteIntentStore
from tradeloop.trading.errors import AccountingError
from tradeloop.trading.execution.intents import (
    InMemoryIntentStore,
    IntentStatus,
    IntentStore,
    OrderIntent,
    Settlement,
    positions_from_intents,
    resume_mismatch,
)
from tradeloop.trading.models import InstrumentRef, TradeAction, TradeInstruction, TradeSide

D = Decimal


def intent(
    cid: str = "tl1",
    *,
    side: TradeSide = TradeSide.BUY,
    ts: int = 1000,
    qty: str = "0.01",
    strategy_id: str = "s1",
) -> OrderIntent:
    return OrderIntent(
        client_order_id=cid,
        strategy_id=strategy_id,
        account="binance:perpetual:test",
        compose_id="c1",
        instruction_id="c1:0",
        symbol="BTC-USDT",
        market_symbol="BTC/USDT:USDT",
        side=side,
        amount=D(qty),
        base_quantity=D(qty),
        reference_price=D("50000"),
        created_ts=ts,
        updated_ts=ts,
    )


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IntentStore]:
    if request.param == "memory":
        yield InMemoryIntentStore()
        return
    db = await Database.open(tmp_path / "t.db")
    try:
        yield SqliteIntentStore(db)
    finally:
        await db.close()


async def test_recording_an_existing_client_id_changes_nothing_and_returns_the_stored_one(
    store: IntentStore,
) -> None:
    first = intent()
    assert await store.record_intent(first) is first
    again = await store.record_intent(intent(qty="0.5"))
    assert again == first and again.amount == D("0.01")


async def test_an_intent_goes_pending_acked_filled_and_refuses_a_different_final_outcome(
    store: IntentStore,
) -> None:
    await store.record_intent(intent())
    await store.mark_sent("tl1", "9001", 1100)
    acked = await store.get("tl1")
    assert acked is not None and acked.status is IntentStatus.ACKED
    assert [i.client_order_id for i in await store.list_intents("s1", unresolved_only=True)] == [
        "tl1"
    ]
    filled = Settlement(
        status=IntentStatus.FILLED,
        filled_base=D("0.01"),
        avg_price=D("50010.5"),
        fee_quote=D("0.2"),
        ts=1200,
    )
    settled = await store.settle("tl1", filled)
    assert (settled.status, settled.exchange_order_id, settled.avg_price) == (
        IntentStatus.FILLED,
        "9001",
        D("50010.5"),
    )
    assert await store.settle("tl1", filled) == settled  # same outcome: a no-op
    with pytest.raises(AccountingError):
        await store.settle("tl1", Settlement(status=IntentStatus.NOT_FOUND, ts=1300))
    assert await store.list_intents("s1", unresolved_only=True) == []


async def test_traded_value_counts_everything_that_may_have_traded_since_a_time(
    store: IntentStore,
) -> None:
    await store.record_intent(intent("a", ts=1000))
    await store.record_intent(intent("b", ts=2000))
    await store.record_intent(intent("c", ts=3000))
    await store.settle("c", Settlement(status=IntentStatus.REJECTED, ts=3001))
    await store.record_intent(intent("d", ts=4000, strategy_id="other"))
    assert await store.traded_value_since("s1", 1500) == D("500.00")  # b only (pending counts)


async def test_positions_add_up_the_filled_quantities_by_side(store: IntentStore) -> None:
    await store.record_intent(intent("a"))
    await store.record_intent(intent("b", side=TradeSide.SELL, ts=1001))
    await store.settle("a", Settlement(status=IntentStatus.FILLED, filled_base=D("0.03"), ts=2))
    await store.settle("b", Settlement(status=IntentStatus.PARTIAL, filled_base=D("0.01"), ts=3))
    assert positions_from_intents(await store.list_intents("s1")) == {"BTC-USDT": D("0.02")}


async def test_marking_fills_applied_is_recorded(store: IntentStore) -> None:
    await store.record_intent(intent("a"))
    await store.mark_applied(["a"], 5000)
    stored = await store.get("a")
    assert stored is not None and stored.applied


async def test_sqlite_intents_survive_closing_and_reopening_the_database(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    await SqliteIntentStore(db).record_intent(intent())
    await db.close()
    db = await Database.open(tmp_path / "t.db")
    try:
        [stored] = await SqliteIntentStore(db).list_intents(unresolved_only=True)
        assert stored == intent()
    finally:
        await db.close()


def instruction(
    *,
    symbol: str = "BTC-USDT",
    side: TradeSide = TradeSide.BUY,
    qty: float = 0.01,
    reduce: bool = False,
) -> TradeInstruction:
    return TradeInstruction(
        instruction_id="c1:0",
        compose_id="c1",
        instrument=InstrumentRef(symbol=symbol),
        side=side,
        quantity=qty,
        action=TradeAction.CLOSE_LONG if reduce else None,
    )


def test_an_intent_resumes_as_the_same_order_or_one_the_venue_rounded_down() -> None:
    assert resume_mismatch(intent(qty="0.01"), "s1", instruction(qty=0.01)) is None
    assert resume_mismatch(intent(qty="0.009"), "s1", instruction(qty=0.01)) is None


def test_an_intent_that_is_another_order_is_refused_naming_every_difference() -> None:
    stored = intent("tl9", qty="0.02")
    asked = instruction(symbol="ETH-USDT", side=TradeSide.SELL, qty=0.01, reduce=True)
    assert resume_mismatch(stored, "s2", asked) == (
        "stored order tl9 is strategy s1 (asked s2), symbol BTC-USDT (asked ETH-USDT), "
        "side BUY (asked SELL), reduce_only False (asked True), quantity 0.02 (asked 0.01): "
        "refusing to resume it as instruction c1:0; nothing was booked"
    )
    assert resume_mismatch(intent("tl9", qty="0.011"), "s1", instruction(qty=0.01)) == (
        "stored order tl9 is quantity 0.011 (asked 0.01): refusing to resume it as instruction "
        "c1:0; nothing was booked"
    )
