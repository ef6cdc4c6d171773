"""The cycle store's counting rules, on hand-made cycles: what is a failure, what is a fill, and
which times a window holds (``since`` inclusive, ``until`` exclusive)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tradeloop.store.backend import NewStrategy, Store
from tradeloop.store.cycles import CycleRecord, CycleStore, PageCursor
from tradeloop.store.db import SlotTaken
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    FeatureVector,
    GuardNote,
    InstrumentRef,
    LLMUsage,
    MarketType,
    PortfolioView,
    StrategyStatus,
    StrategySummary,
    TradeHistoryEntry,
    TradeInstruction,
    TradeSide,
    TradeType,
    TradingConfig,
    TxResult,
    TxStatus,
    UserRequest,
)
from tradeloop.trading.portfolio.ledger import Ledger

SID = "s_rules"
LEDGER = Ledger.open_account(MarketType.PERPETUAL, Decimal(1000))
BTC = InstrumentRef(symbol="BTC-USDT")


@pytest.fixture
async def cycles(store: Store) -> CycleStore:
    """On each backend (the ``store`` fixture): the rules are the store's, not SQLite's."""
    request = UserRequest(trading_config=TradingConfig(initial_capital=1000, symbols=["BTC-USDT"]))
    await store.strategies.insert(
        strategy_id=SID,
        name=SID,
        agent_kind="default",
        request=request,
        replay=None,
        owner="~owner",
    )
    return store.cycles


def tx(status: TxStatus, filled: float, i: int = 0) -> TxResult:
    return TxResult(
        instruction_id=f"c:{i}",
        instrument=BTC,
        side=TradeSide.BUY,
        status=status,
        requested_qty=1.0,
        filled_qty=filled,
    )


def trade(i: int, entry_ts: int, exit_ts: int | None) -> TradeHistoryEntry:
    return TradeHistoryEntry(
        trade_id=f"t{i}",
        compose_id=f"c{i}",
        instruction_id=f"c{i}:0",
        instrument=BTC,
        side=TradeSide.SELL if exit_ts else TradeSide.BUY,
        type=TradeType.LONG,
        quantity=1.0,
        entry_price=100.0,
        exit_price=101.0 if exit_ts else None,
        entry_ts=entry_ts,
        exit_ts=exit_ts,
        realized_pnl=1.0 if exit_ts else None,
    )


def cycle(
    i: int,
    ts: int,
    status: CycleStatus = CycleStatus.OK,
    *,
    txs: list[TxResult] | None = None,
    trades: list[TradeHistoryEntry] | None = None,
    symbol: str | None = None,
    equity: float = 1000.0,
) -> CycleResult:
    instructions = (
        [
            TradeInstruction(
                instruction_id=f"c{i}:0",
                compose_id=f"c{i}",
                instrument=InstrumentRef(symbol=symbol),
                side=TradeSide.BUY,
                quantity=1.0,
            )
        ]
        if symbol
        else []
    )
    return CycleResult(
        compose_id=f"c{i}",
        strategy_id=SID,
        ts=ts,
        slot_ts=ts,
        status=status,
        proposed=instructions,
        tx_results=txs or [],
        trades=trades or [],
        strategy_summary=StrategySummary(
            strategy_id=SID,
            ts=ts,
            equity=equity,
            cash=equity,
            realized_pnl=0.0,
            unrealized_pnl=0.0,
            fees_paid=0.0,
            total_return_pct=0.0,
            open_positions=0,
        ),
    )


async def test_skipped_cycles_are_not_failures_and_a_decision_resets_the_count(cycles) -> None:
    insert = cycles.insert
    assert await insert(cycle(1, 1_000, CycleStatus.ERROR), kind="failure", ledger=LEDGER) == 1
    assert await insert(cycle(2, 2_000, CycleStatus.SKIPPED), kind="failure", ledger=LEDGER) == 1
    assert await insert(cycle(3, 3_000, CycleStatus.ERROR), kind="failure", ledger=LEDGER) == 2
    assert await insert(cycle(4, 4_000), kind="decision", ledger=LEDGER) == 0
    assert await insert(cycle(5, 5_000, CycleStatus.SKIPPED), kind="failure", ledger=LEDGER) == 0


async def test_n_fills_counts_executions_that_filled_something_and_nothing_else(cycles) -> None:
    txs = [
        tx(TxStatus.FILLED, 1.0, 0),
        tx(TxStatus.PARTIAL, 0.4, 1),
        tx(TxStatus.REJECTED, 0.0, 2),
        tx(TxStatus.ERROR, 0.0, 3),
        tx(TxStatus.PARTIAL, 0.0, 4),
    ]
    await cycles.insert(cycle(1, 1_000, txs=txs, symbol="BTC-USDT"), kind="decision", ledger=LEDGER)
    [record] = await cycles.page(SID, PageCursor(None, 10))
    assert (record.fills, record.proposed, record.instructions, record.trades) == (2, 1, 0, 0)
    count, latest, summary = await cycles.stats(SID)
    assert count == 1 and latest == record and summary is not None


async def test_a_cycle_window_includes_since_and_excludes_until(cycles) -> None:
    for i, ts in enumerate((1_000, 2_000, 3_000, 4_000)):
        await cycles.insert(cycle(i, ts), kind="decision", ledger=LEDGER)
    page = await cycles.page(SID, PageCursor(None, 10), since_ms=2_000, until_ms=4_000)
    assert [r.ts for r in page] == [2_000, 3_000]
    assert [r.ts for r in await cycles.page(SID, PageCursor(None, 10), until_ms=1_000)] == []
    newest = await cycles.page(SID, PageCursor(None, 2, ascending=False), since_ms=1_001)
    assert [r.ts for r in newest] == [4_000, 3_000]
    after = await cycles.page(SID, PageCursor(newest[-1].cycle_id, 10, ascending=False))
    assert [r.ts for r in after] == [2_000, 1_000]


async def test_a_trade_window_uses_the_exit_time_or_else_the_entry_time(cycles) -> None:
    trades = [
        trade(1, 500, 1_000),
        trade(2, 900, 2_000),
        trade(3, 2_000, None),
        trade(4, 10, 3_000),
    ]
    await cycles.insert(cycle(1, 5_000, trades=trades), kind="decision", ledger=LEDGER)
    window = await cycles.trade_page(SID, PageCursor(None, 10), since_ms=1_000, until_ms=3_000)
    assert [t.trade_id for _, t in window] == ["t1", "t2", "t3"]
    assert [
        t.trade_id for _, t in await cycles.trade_page(SID, PageCursor(None, 10), until_ms=1_000)
    ] == []


async def test_status_and_symbol_filters_and_equity_strictly_before_a_time(cycles) -> None:
    await cycles.insert(
        cycle(1, 1_000, symbol="BTC-USDT", equity=1010), kind="decision", ledger=LEDGER
    )
    await cycles.insert(
        cycle(2, 2_000, CycleStatus.SKIPPED, equity=1020), kind="failure", ledger=LEDGER
    )
    await cycles.insert(
        cycle(3, 3_000, symbol="ETH-USDT", equity=1030), kind="decision", ledger=LEDGER
    )
    skipped = await cycles.page(SID, PageCursor(None, 10), status=CycleStatus.SKIPPED)
    assert [(r.compose_id, r.kind) for r in skipped] == [("c2", "failure")]
    btc = await cycles.page(SID, PageCursor(None, 10), symbol="BTC-USDT")
    assert [r.compose_id for r in btc] == ["c1"]
    assert await cycles.equity_before(SID, 3_000) == 1020
    assert await cycles.equity_before(SID, 3_001) == 1030
    assert await cycles.equity_before(SID, 1_000) is None
    assert await cycles.count(SID) == 3


def with_features(result: CycleResult, *closes: float) -> CycleResult:
    vectors = [
        FeatureVector(ts=result.ts, instrument=BTC, values={"close": close}) for close in closes
    ]
    return result.model_copy(update={"features": vectors})


async def test_a_record_carries_every_field_and_count_of_its_cycle(cycles) -> None:
    guarded = cycle(1, 1_000, symbol="BTC-USDT").proposed
    note = GuardNote(instruction_id="c1:0", symbol="BTC-USDT", outcome="clamped", reason="cap")
    full = cycle(
        1,
        1_000,
        CycleStatus.OK,
        txs=[tx(TxStatus.FILLED, 1.0, 0), tx(TxStatus.REJECTED, 0.0, 1)],
        trades=[trade(1, 500, 1_000), trade(2, 900, None), trade(3, 900, None)],
        symbol="BTC-USDT",
        equity=1234.5,
    ).model_copy(
        update={
            "slot_ts": 900,
            "reason": "why",
            "rationale": "because",
            "instructions": [*guarded, *guarded],
            "guard_notes": [note],
        }
    )
    await cycles.insert(full, kind="decision", ledger=LEDGER)
    [record] = await cycles.page(SID, PageCursor(None, 10))
    assert record == CycleRecord(
        cycle_id=record.cycle_id,
        compose_id="c1",
        strategy_id=SID,
        slot_ts=900,
        ts=1_000,
        kind="decision",
        status=CycleStatus.OK,
        reason="why",
        rationale="because",
        equity=1234.5,
        proposed=1,
        instructions=2,
        guard_notes=1,
        fills=1,
        trades=3,
    )
    assert await cycles.stats(SID) == (1, record, full.strategy_summary)


async def test_an_unknown_strategy_has_no_cycles_and_the_latest_is_the_last_stored(
    cycles,
) -> None:
    assert await cycles.stats("nobody") == (0, None, None)
    assert await cycles.count("nobody") == 0
    assert await cycles.latest_ledger(SID) is None
    await cycles.insert(cycle(1, 1_000, equity=1001), kind="decision", ledger=LEDGER)
    await cycles.insert(cycle(2, 2_000, CycleStatus.ERROR), kind="failure", ledger=LEDGER)
    count, latest, summary = await cycles.stats(SID)
    assert (
        count,
        latest is not None and latest.compose_id,
        summary is not None and summary.ts,
    ) == (
        2,
        "c2",
        2_000,
    )


async def test_the_last_trades_and_compose_ids_are_listed_oldest_first(cycles) -> None:
    for i in range(1, 4):
        await cycles.insert(
            cycle(i, i * 1_000, trades=[trade(i, i * 1_000, None)]), kind="decision", ledger=LEDGER
        )
    assert [t.trade_id for t in await cycles.trades(SID)] == ["t1", "t2", "t3"]
    assert [t.trade_id for t in await cycles.trades(SID, 2)] == ["t2", "t3"]
    assert await cycles.compose_ids(SID) == ["c1", "c2", "c3"]
    assert await cycles.compose_ids(SID, 1) == ["c3"]


async def test_the_stored_fills_are_the_executions_that_filled_in_execution_order(cycles) -> None:
    first = [tx(TxStatus.PARTIAL, 0.4, 0), tx(TxStatus.REJECTED, 0.0, 1)]
    second = [
        tx(TxStatus.PARTIAL, 0.0, 0),
        tx(TxStatus.FILLED, 1.0, 1),
        tx(TxStatus.FILLED, 0.5, 2),
    ]
    await cycles.insert(cycle(1, 1_000, txs=first), kind="decision", ledger=LEDGER)
    await cycles.insert(cycle(2, 2_000, txs=second), kind="decision", ledger=LEDGER)
    ids = [r.cycle_id for r in await cycles.page(SID, PageCursor(None, 10))]
    fills = await cycles.fills(SID)
    assert [(cid, ts, t.filled_qty) for cid, ts, t in fills] == [
        (ids[0], 1_000, 0.4),
        (ids[1], 2_000, 1.0),
        (ids[1], 2_000, 0.5),
    ]
    assert await cycles.fills("nobody") == []


async def test_every_after_cycle_ledger_reads_back_oldest_first_with_its_cycle(cycles) -> None:
    richer = Ledger.open_account(MarketType.PERPETUAL, Decimal("1000.5"))
    await cycles.insert(cycle(1, 1_000), kind="decision", ledger=LEDGER)
    await cycles.insert(cycle(2, 2_000), kind="decision", ledger=richer)
    ids = [r.cycle_id for r in await cycles.page(SID, PageCursor(None, 10))]
    assert await cycles.ledgers(SID) == [(ids[0], LEDGER), (ids[1], richer)]
    assert await cycles.latest_ledger(SID) == (richer, 2_000)  # no portfolio view: the cycle's ts
    assert await cycles.ledgers("nobody") == []


async def test_recent_decisions_are_the_last_decision_cycles_oldest_first_and_complete(
    cycles,
) -> None:
    await cycles.insert(with_features(cycle(1, 1_000), 1.0), kind="decision", ledger=LEDGER)
    await cycles.insert(cycle(2, 2_000, CycleStatus.ERROR), kind="failure", ledger=LEDGER)
    third = with_features(cycle(3, 3_000, symbol="BTC-USDT"), 3.0)
    await cycles.insert(third, kind="decision", ledger=LEDGER)
    await cycles.insert(cycle(4, 4_000), kind="decision", ledger=LEDGER)
    recent = await cycles.recent_decisions(SID, 2)
    assert [r.compose_id for r in recent] == ["c3", "c4"]
    assert recent[0] == third
    assert [r.compose_id for r in await cycles.recent_decisions(SID, 10)] == ["c1", "c3", "c4"]


async def test_chart_rows_are_every_cycle_s_time_equity_and_features_as_one_json_list(
    cycles,
) -> None:
    await cycles.insert(
        with_features(cycle(1, 1_000, equity=1001), 1.5, 2.5), kind="decision", ledger=LEDGER
    )
    await cycles.insert(
        cycle(2, 2_000, CycleStatus.ERROR, equity=999), kind="failure", ledger=LEDGER
    )
    await cycles.insert(
        with_features(cycle(3, 3_000, equity=1003), 1.5), kind="decision", ledger=LEDGER
    )
    rows = await cycles.chart_rows(SID)
    assert [(ts, equity) for ts, equity, _ in rows] == [
        (1_000, 1001.0),
        (2_000, 999.0),
        (3_000, 1003.0),
    ]
    closes = [[v["values"]["close"] for v in json.loads(text)] for _, _, text in rows]
    assert closes == [[1.5, 2.5], [], [1.5]]
    assert rows[1][2] == "[]"
    assert await cycles.chart_rows("nobody") == []


async def test_a_whole_strategy_is_stored_with_all_its_cycles_and_their_failure_count(
    store: Store,
) -> None:
    sid = "s_whole"
    request = UserRequest(trading_config=TradingConfig(initial_capital=1000, symbols=["BTC-USDT"]))
    new = NewStrategy(
        strategy_id=sid,
        name=sid,
        agent_kind="default",
        request=request,
        replay=None,
        status=StrategyStatus.STOPPED,
        reason=None,
        owner="~owner",
    )
    richer = Ledger.open_account(MarketType.PERPETUAL, Decimal("1001"))
    ran = [
        (cycle(1, 1_000, txs=[tx(TxStatus.FILLED, 1.0)]), "decision", LEDGER),
        (cycle(2, 2_000, CycleStatus.ERROR), "failure", LEDGER),
        (cycle(3, 3_000, CycleStatus.ERROR), "failure", richer),
    ]
    await store.insert_whole(
        new, [(c.model_copy(update={"strategy_id": sid}), k, ledger) for c, k, ledger in ran]
    )
    records = await store.cycles.page(sid, PageCursor(None, 10))
    assert [(r.compose_id, r.kind, r.fills) for r in records] == [
        ("c1", "decision", 1),
        ("c2", "failure", 0),
        ("c3", "failure", 0),
    ]
    assert await store.cycles.latest_ledger(sid) == (richer, 3_000)
    stored = await store.strategies.get(sid)
    assert stored is not None and (stored.consecutive_failures, stored.last_slot_ts) == (2, 3_000)


async def test_a_trade_page_filters_by_symbol_and_from_since_and_gives_row_ids_in_order(
    cycles,
) -> None:
    eth = trade(3, 1_500, 2_500).model_copy(update={"instrument": InstrumentRef(symbol="ETH-USDT")})
    trades = [trade(1, 500, 999), trade(2, 900, 2_000), eth]
    await cycles.insert(cycle(1, 5_000, trades=trades), kind="decision", ledger=LEDGER)
    since = await cycles.trade_page(SID, PageCursor(None, 10), since_ms=1_000)
    assert [t.trade_id for _, t in since] == ["t2", "t3"]
    btc = await cycles.trade_page(SID, PageCursor(None, 10), symbol="BTC-USDT")
    assert [t.trade_id for _, t in btc] == ["t1", "t2"]
    ids = [row_id for row_id, _ in await cycles.trade_page(SID, PageCursor(None, 10))]
    assert ids == sorted(ids) and len(set(ids)) == 3
    after_first = await cycles.trade_page(SID, PageCursor(ids[0], 10))
    assert [t.trade_id for _, t in after_first] == ["t2", "t3"]


async def test_a_second_cycle_for_a_slot_is_refused_naming_the_strategy_slot_and_cycle(
    cycles,
) -> None:
    await cycles.insert(cycle(1, 1_000), kind="decision", ledger=LEDGER)
    again = cycle(1, 1_000).model_copy(update={"compose_id": "c1-again"})
    with pytest.raises(SlotTaken) as caught:
        await cycles.insert(again, kind="decision", ledger=LEDGER)
    assert str(caught.value) == (
        f"strategy {SID} already has a cycle for slot 1000 (or compose_id c1-again)"
    )


async def test_a_cycle_reusing_a_compose_id_is_refused_as_a_taken_slot(cycles) -> None:
    await cycles.insert(cycle(1, 1_000), kind="decision", ledger=LEDGER)
    reused = cycle(1, 2_000)  # another slot, the same compose_id c1
    with pytest.raises(SlotTaken, match=r"\(or compose_id c1\)$"):
        await cycles.insert(reused, kind="decision", ledger=LEDGER)
    assert await cycles.count(SID) == 1


async def test_the_latest_ledger_is_dated_by_the_portfolio_view_when_the_cycle_has_one(
    cycles,
) -> None:
    view = PortfolioView(strategy_id=SID, ts=900, account_balance=1000.0)
    with_view = cycle(1, 1_000).model_copy(update={"portfolio": view})
    await cycles.insert(with_view, kind="decision", ledger=LEDGER)
    assert await cycles.latest_ledger(SID) == (LEDGER, 900)


async def test_digest_inputs_are_the_decision_cycles_with_their_usage_and_trades(cycles) -> None:
    usage = LLMUsage(model="m", input_tokens=10, output_tokens=3)
    first = cycle(1, 1_000, trades=[trade(1, 500, 1_000)]).model_copy(update={"usage": usage})
    await cycles.insert(first, kind="decision", ledger=LEDGER)
    await cycles.insert(cycle(2, 2_000, CycleStatus.ERROR), kind="failure", ledger=LEDGER)
    await cycles.insert(cycle(3, 3_000), kind="decision", ledger=LEDGER)
    inputs = await cycles.digest_inputs_after(SID)
    assert [(r.compose_id, r.ts, r.usage, [t.trade_id for t in r.trades]) for _, r in inputs] == [
        ("c1", 1_000, usage, ["t1"]),
        ("c3", 3_000, None, []),
    ]
    first_id = inputs[0][0]
    assert [r.compose_id for _, r in await cycles.digest_inputs_after(SID, first_id)] == ["c3"]


async def test_a_failed_cycle_reads_back_with_its_reason(cycles) -> None:
    failed = cycle(1, 1_000, CycleStatus.ERROR).model_copy(
        update={"reason": "temporary failure: exchange busy"}
    )
    await cycles.insert(failed, kind="failure", ledger=LEDGER)
    stored = await cycles.get("c1")
    assert stored is not None and stored.reason == "temporary failure: exchange busy"
    assert stored == failed


@pytest.mark.parametrize(
    "raw",
    [
        {"response": "no prompt was recorded"},
        {"prompt": "a prompt that is one string"},
        {"prompt": {"messages": [{"role": "user", "content": "no system prompt"}]}},
        {"prompt": {"system": {"text": "a system prompt that is an object, not a reference"}}},
        {"prompt": {"system": "a system prompt stored once as a payload", "messages": []}},
    ],
)
async def test_a_raw_reply_reads_back_as_it_was_whatever_its_prompt_holds(cycles, raw) -> None:
    # only a system prompt that is a string is moved to a payload; anything else is kept inline
    await cycles.insert(
        cycle(1, 1_000).model_copy(update={"raw": raw}), kind="decision", ledger=LEDGER
    )
    stored = await cycles.get("c1")
    assert stored is not None and stored.raw == raw
