"""The cycle store's counting rules, on hand-made cycles: what is a failure, what is a fill, and
which times a window holds (``since`` inclusive, ``until`` exclusive)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.store.backend import Store
from tradeloop.store.cycles import CycleStore, PageCursor
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    InstrumentRef,
    MarketType,
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
        strategy_id=SID, name=SID, agent_kind="default", request=request, replay=None
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
