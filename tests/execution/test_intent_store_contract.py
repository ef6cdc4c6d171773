"""The contract every ``IntentStore`` implementation must pass (see its Protocol's docstrings).

Add an implementation by adding a factory to ``FACTORIES`` (PostgreSQL runs in the session's
throwaway cluster, see ``tests.pg_cluster``);
every test below then runs against it too. Expected values are computed by hand from the contract:
traded value is ``base_quantity x reference_price`` of every intent created at or after ``since``
that may have traded (all but REJECTED and NOT_FOUND); a final intent refuses a different outcome.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from tests.pg_cluster import Cluster
from tradeloop.store.db import Database
from tradeloop.store.intents import SqliteIntentStore
from tradeloop.store.postgres.db import PgDatabase
from tradeloop.store.postgres.intents import PgIntentStore
from tradeloop.trading.errors import AccountingError
from tradeloop.trading.execution.intents import (
    InMemoryIntentStore,
    IntentStatus,
    IntentStore,
    OrderIntent,
    Settlement,
    positions_from_intents,
)
from tradeloop.trading.models import TradeSide

D = Decimal
S = IntentStatus


async def in_memory(_: Path, __: AsyncExitStack, ___: pytest.FixtureRequest) -> IntentStore:
    return InMemoryIntentStore()


async def sqlite(tmp: Path, stack: AsyncExitStack, _: pytest.FixtureRequest) -> IntentStore:
    db = await Database.open(tmp / "intents.db")
    stack.push_async_callback(db.close)
    return SqliteIntentStore(db)


async def postgresql(_: Path, stack: AsyncExitStack, request: pytest.FixtureRequest) -> IntentStore:
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    db = await PgDatabase.open(cluster.create_schema())
    stack.push_async_callback(db.close)
    return PgIntentStore(db)


FACTORIES: dict[
    str, Callable[[Path, AsyncExitStack, pytest.FixtureRequest], Awaitable[IntentStore]]
] = {
    "in-memory": in_memory,
    "sqlite": sqlite,
    "postgresql": postgresql,
}


@pytest.fixture(params=list(FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IntentStore]:
    async with AsyncExitStack() as stack:
        yield await FACTORIES[request.param](tmp_path, stack, request)


def intent(
    cid: str,
    ts: int = 1_000,
    *,
    qty: str = "0.5",
    price: str = "100",
    amount: str = "50",
    strategy_id: str = "s1",
    side: TradeSide = TradeSide.BUY,
) -> OrderIntent:
    """``amount`` (contracts) differs from ``base_quantity`` on purpose: value is in base units."""
    return OrderIntent(
        client_order_id=cid,
        strategy_id=strategy_id,
        account="venue:perpetual:acct",
        compose_id="c1",
        instruction_id=f"c1:{cid}",
        symbol="BTC-USDT",
        market_symbol="BTC/USDT:USDT",
        side=side,
        amount=D(amount),
        base_quantity=D(qty),
        reference_price=D(price),
        created_ts=ts,
        updated_ts=ts,
    )


def settlement(status: IntentStatus, filled: str = "0", ts: int = 2_000, **more) -> Settlement:
    return Settlement(status=status, filled_base=D(filled), ts=ts, **more)


async def test_a_second_settlement_with_a_different_fill_raises_and_keeps_the_first(store) -> None:
    await store.record_intent(intent("a"))
    first = await store.settle("a", settlement(S.FILLED, "0.5", avg_price=D("101")))
    with pytest.raises(AccountingError):
        await store.settle("a", settlement(S.FILLED, "0.4"))
    with pytest.raises(AccountingError):
        await store.settle("a", settlement(S.PARTIAL, "0.5"))
    assert await store.get("a") == first
    assert first.filled_base == D("0.5") and first.avg_price == D("101")


async def test_the_same_settlement_twice_is_a_no_op(store) -> None:
    await store.record_intent(intent("a"))
    first = await store.settle("a", settlement(S.PARTIAL, "0.2", fee_quote=D("0.01")))
    again = await store.settle("a", settlement(S.PARTIAL, "0.2", fee_quote=D("0.01"), ts=9_999))
    assert again == first and again.updated_ts == 2_000


@pytest.mark.parametrize("status", [S.PENDING, S.ACKED])
async def test_settling_with_a_status_that_is_not_final_raises(store, status) -> None:
    await store.record_intent(intent("a"))
    with pytest.raises(AccountingError):
        await store.settle("a", settlement(status))
    stored = await store.get("a")
    assert stored is not None and stored.status is S.PENDING


async def test_settling_or_sending_an_unknown_intent_raises(store) -> None:
    with pytest.raises(AccountingError):
        await store.settle("nope", settlement(S.FILLED, "1"))
    with pytest.raises(AccountingError):
        await store.mark_sent("nope", "x1", 5)
    assert await store.get("nope") is None


async def test_a_settlement_records_every_field_and_keeps_the_acked_order_id(store) -> None:
    await store.record_intent(intent("a"))
    await store.mark_sent("a", "x-1", 1_500)
    settled = await store.settle(
        "a", settlement(S.FILLED, "0.5", avg_price=D("100.25"), fee_quote=D("0.05"), reason="ok")
    )
    assert (settled.status, settled.filled_base, settled.avg_price, settled.fee_quote) == (
        S.FILLED,
        D("0.5"),
        D("100.25"),
        D("0.05"),
    )
    assert (settled.exchange_order_id, settled.reason, settled.updated_ts) == ("x-1", "ok", 2_000)
    assert await store.get("a") == settled


async def test_sending_acks_a_pending_intent_but_never_reopens_a_final_one(store) -> None:
    await store.record_intent(intent("a"))
    await store.record_intent(intent("b", 1_001))
    await store.settle("b", settlement(S.REJECTED, reason="venue said no"))
    await store.mark_sent("a", "x-a", 1_100)
    await store.mark_sent("b", "x-b", 1_200)
    a, b = await store.get("a"), await store.get("b")
    assert a is not None and (a.status, a.exchange_order_id, a.updated_ts) == (
        S.ACKED,
        "x-a",
        1_100,
    )
    assert b is not None and (b.status, b.exchange_order_id) == (S.REJECTED, "x-b")


async def test_traded_value_excludes_rejected_and_not_found_and_counts_the_rest(store) -> None:
    # each intent: 0.5 base x 100 = 50 of value, whatever its amount in contracts
    for cid, ts in (("pending", 1_000), ("acked", 1_001), ("filled", 1_002), ("partial", 1_003)):
        await store.record_intent(intent(cid, ts))
    await store.record_intent(intent("rejected", 1_004))
    await store.record_intent(intent("not_found", 1_005))
    await store.mark_sent("acked", "x", 1_010)
    await store.settle("filled", settlement(S.FILLED, "0.5"))
    await store.settle("partial", settlement(S.PARTIAL, "0.1"))
    await store.settle("rejected", settlement(S.REJECTED))
    await store.settle("not_found", settlement(S.NOT_FOUND))
    assert await store.traded_value_since("s1", 0) == D("200")


async def test_the_traded_value_window_includes_its_start_and_only_this_strategy(store) -> None:
    await store.record_intent(intent("before", 999, qty="1", price="7"))
    await store.record_intent(intent("at", 1_000, qty="2", price="10"))
    await store.record_intent(intent("after", 1_001, qty="0.5", price="30"))
    await store.record_intent(intent("other", 1_000, strategy_id="s2", qty="9", price="9"))
    assert await store.traded_value_since("s1", 1_000) == D("35")  # 20 + 15
    assert await store.traded_value_since("s1", 1_001) == D("15")
    assert await store.traded_value_since("s1", 999) == D("42")
    assert await store.traded_value_since("s1", 1_002) == D("0")
    assert await store.traded_value_since("s2", 0) == D("81")


async def test_unapplied_fills_are_final_filled_intents_no_portfolio_took_yet(store) -> None:
    await store.record_intent(intent("filled", 1_000))
    await store.record_intent(intent("partial", 1_001, side=TradeSide.SELL))
    await store.record_intent(intent("zero_partial", 1_002))
    await store.record_intent(intent("rejected", 1_003))
    await store.record_intent(intent("acked", 1_004))
    await store.record_intent(intent("applied", 1_005))
    await store.record_intent(intent("elsewhere", 1_006, strategy_id="s2"))
    await store.settle("filled", settlement(S.FILLED, "0.5"))
    await store.settle("partial", settlement(S.PARTIAL, "0.2"))
    await store.settle("zero_partial", settlement(S.PARTIAL, "0"))
    await store.settle("rejected", settlement(S.REJECTED))
    await store.mark_sent("acked", "x", 1_100)
    await store.settle("applied", settlement(S.FILLED, "0.5"))
    await store.settle("elsewhere", settlement(S.FILLED, "0.5"))
    await store.mark_applied(["applied"], 3_000)
    unapplied = await store.unapplied_fills("s1")
    assert [i.client_order_id for i in unapplied] == ["filled", "partial"]
    assert [i.signed_fill for i in unapplied] == [D("0.5"), D("-0.2")]
    await store.mark_applied(["filled", "partial"], 3_001)
    assert await store.unapplied_fills("s1") == []
    applied = await store.get("filled")
    assert applied is not None and applied.applied and applied.updated_ts == 3_001


async def test_a_rejected_or_not_found_intent_is_never_handed_over_as_a_fill(store) -> None:
    # REJECTED and NOT_FOUND mean nothing filled: only FILLED and PARTIAL are fills, as in the
    # portfolio, whatever quantity a settlement wrote next to the status
    await store.record_intent(intent("rejected", 1_000))
    await store.record_intent(intent("not_found", 1_001))
    await store.record_intent(intent("filled", 1_002))
    await store.settle("rejected", settlement(S.REJECTED, "0.3"))
    await store.settle("not_found", settlement(S.NOT_FOUND, "0.1"))
    await store.settle("filled", settlement(S.FILLED, "0.5"))
    assert [i.client_order_id for i in await store.unapplied_fills("s1")] == ["filled"]


async def test_marking_an_unknown_intent_applied_raises_and_marks_nothing_of_that_batch(
    store,
) -> None:
    # the failure contract: commit or raise; a fill with no intent behind it is not a silent no-op
    await store.record_intent(intent("a", 1_000))
    await store.settle("a", settlement(S.FILLED, "0.5"))
    with pytest.raises(AccountingError, match="nope"):
        await store.mark_applied(["a", "nope"], 3_000)
    a = await store.get("a")
    assert a is not None and (a.applied, a.updated_ts) == (False, 2_000)
    assert await store.get("nope") is None
    assert [i.client_order_id for i in await store.unapplied_fills("s1")] == ["a"]


async def test_listing_filters_by_strategy_and_by_unresolved_in_creation_order(store) -> None:
    await store.record_intent(intent("a", 1_000))
    await store.record_intent(intent("b", 1_001))
    await store.record_intent(intent("c", 1_002))
    await store.record_intent(intent("z", 1_003, strategy_id="s2"))
    await store.mark_sent("b", "x", 1_100)
    await store.settle("c", settlement(S.NOT_FOUND))
    assert [i.client_order_id for i in await store.list_intents("s1")] == ["a", "b", "c"]
    unresolved = await store.list_intents("s1", unresolved_only=True)
    assert [i.client_order_id for i in unresolved] == ["a", "b"]
    assert [i.client_order_id for i in await store.list_intents()] == ["a", "b", "c", "z"]


async def test_a_settlement_s_own_order_id_wins_and_a_pending_reason_survives_a_silent_one(
    store,
) -> None:
    await store.record_intent(intent("a"))
    await store.mark_sent("a", "x-acked", 1_500)
    settled = await store.settle("a", settlement(S.FILLED, "0.5", exchange_order_id="x-venue"))
    assert settled.exchange_order_id == "x-venue"
    await store.record_intent(intent("b", 1_001).model_copy(update={"reason": "sent late"}))
    quiet = await store.settle("b", settlement(S.NOT_FOUND))
    assert (quiet.reason, quiet.exchange_order_id) == ("sent late", None)


async def test_fills_that_cancel_out_leave_no_position(store) -> None:
    await store.record_intent(intent("buy"))
    await store.record_intent(intent("sell", 1_001, side=TradeSide.SELL))
    await store.record_intent(intent("none", 1_002))
    await store.settle("buy", settlement(S.FILLED, "0.3"))
    await store.settle("sell", settlement(S.FILLED, "0.3"))
    await store.settle("none", settlement(S.REJECTED))
    assert positions_from_intents(await store.list_intents("s1")) == {}


async def test_listing_is_in_creation_time_order_whatever_order_the_intents_were_recorded_in(
    store,
) -> None:
    await store.record_intent(intent("late", 3_000))
    await store.record_intent(intent("early", 1_000))
    await store.record_intent(intent("middle", 2_000))
    await store.record_intent(intent("middle_too", 2_000))
    await store.settle("late", settlement(S.FILLED, "0.5"))
    await store.settle("early", settlement(S.FILLED, "0.5"))
    listed = [i.client_order_id for i in await store.list_intents("s1")]
    assert listed == ["early", "middle", "middle_too", "late"]
    assert [i.client_order_id for i in await store.unapplied_fills("s1")] == ["early", "late"]


async def test_marking_a_fill_applied_twice_raises_and_marks_nothing_of_that_batch(store) -> None:
    await store.record_intent(intent("a", 1_000))
    await store.record_intent(intent("b", 1_001))
    await store.settle("a", settlement(S.FILLED, "0.5"))
    await store.settle("b", settlement(S.FILLED, "0.5"))
    await store.mark_applied(["a"], 3_000)
    with pytest.raises(AccountingError):
        await store.mark_applied(["b", "a"], 3_001)
    a, b = await store.get("a"), await store.get("b")
    assert a is not None and (a.applied, a.updated_ts) == (True, 3_000)
    assert b is not None and (b.applied, b.updated_ts) == (False, 2_000)
    assert [i.client_order_id for i in await store.unapplied_fills("s1")] == ["b"]


async def test_an_intent_with_every_field_set_reads_back_equal(store) -> None:
    full = OrderIntent(
        client_order_id="full",
        strategy_id="s1",
        account="venue:perpetual:acct",
        compose_id="close_c9",
        instruction_id="close_c9:ETH-USDT",
        symbol="ETH-USDT",
        market_symbol="ETH/USDT:USDT",
        side=TradeSide.SELL,
        order_type="limit",
        amount=D("12"),
        base_quantity=D("0.12"),
        reference_price=D("2500.5"),
        limit_price=D("2499.25"),
        reduce_only=True,
        leverage=3.0,
        created_ts=7_000,
        status=S.ACKED,
        exchange_order_id="x-7",
        filled_base=D("0"),
        avg_price=D("2499.5"),
        fee_quote=D("0.003"),
        reason="sent",
        updated_ts=7_001,
        applied=True,
    )
    assert await store.record_intent(full) == full
    assert await store.get("full") == full
    assert await store.list_intents() == [full]
    plain = intent("plain", 7_002)
    await store.record_intent(plain)
    stored = await store.get("plain")
    assert stored == plain
    assert stored is not None and (stored.limit_price, stored.avg_price, stored.leverage) == (
        None,
        None,
        None,
    )
    assert (stored.reduce_only, stored.applied) == (False, False)
