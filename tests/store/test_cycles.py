"""Cycles in the store: whole or not at all, one per slot, read back exactly as they ran; the
portfolio and digest rebuilt from the store equal the running ones."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.fakes import ScriptedComposer, StaticPipeline
from tests.store_backends import stored_ledger_mismatches
from tradeloop.store.backend import Store
from tradeloop.store.codec import ledger_from_json, ledger_to_json
from tradeloop.store.cycles import CycleStore
from tradeloop.store.db import Database, SlotTaken, StoreError
from tradeloop.store.sqlite_digest import SqliteDigestBuilder
from tradeloop.store.sqlite_portfolio import SqlitePortfolioService
from tradeloop.store.sqlite_recorder import SqliteHistoryRecorder
from tradeloop.store.strategies import StrategyRepository, request_to_json
from tradeloop.trading._internal.coordinator import summarize
from tradeloop.trading._internal.runtime import Components, StrategyRuntime
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    ExchangeConfig,
    InstrumentRef,
    LevelAdjustment,
    MarketType,
    PositionEntry,
    TradeAction,
    TradeSide,
    TradingConfig,
    UserRequest,
)
from tradeloop.trading.portfolio.ledger import Ledger, LedgerPosition

BUY, SELL = TradeSide.BUY, TradeSide.SELL
START = 1_700_000_000_000
PERP = UserRequest(
    exchange_config=ExchangeConfig(market_type=MarketType.PERPETUAL),
    trading_config=TradingConfig(
        initial_capital=5_000, symbols=["BTC-USDT", "ETH-USDT"], max_leverage=3
    ),
)
PRICES = [
    {"BTC-USDT": p, "ETH-USDT": e}
    for p, e in [(100.0, 10.0), (103.0, 10.5), (97.5, 9.75), (101.25, 10.1), (99.0, 9.9)]
]
SCRIPT = [
    [("BTC-USDT", BUY, 10.0, None), ("ETH-USDT", SELL, 30.0, None)],
    [("BTC-USDT", SELL, 25.0, None)],
    [("BTC-USDT", BUY, 5.0, TradeAction.CLOSE_SHORT), ("ETH-USDT", BUY, 12.5, None)],
    [("BTC-USDT", BUY, 30.0, None)],
    [("ETH-USDT", SELL, 7.0, None)],
]


@dataclass
class Stored:
    store: Store
    cycles: CycleStore
    strategy_id: str
    runtime: StrategyRuntime
    clock: SimulatedClock

    async def run(self, slot: int | None = None):  # type: ignore[no-untyped-def]
        self.clock.advance(60)
        return await self.runtime.coordinator.run_once(slot_ts=slot or self.clock.now_ms())


async def build(store: Store, request: UserRequest, strategy_id: str = "s_test") -> Stored:
    await store.strategies.insert(
        strategy_id=strategy_id,
        name=strategy_id,
        agent_kind="default",
        request=request,
        replay=None,
        owner="~owner",
    )
    cycles = store.cycles
    portfolio = await SqlitePortfolioService.load(cycles, strategy_id, request)
    clock = SimulatedClock(START)
    components = Components(
        pipeline=StaticPipeline(PRICES),
        composer=ScriptedComposer(SCRIPT),
        portfolio=portfolio,
        recorder=SqliteHistoryRecorder(cycles, strategy_id, portfolio),
        digest=await SqliteDigestBuilder.load(cycles, strategy_id, request),
        clock=clock,
    )
    runtime = await DefaultStrategyAgent().create_runtime(
        request, strategy_id=strategy_id, components=components
    )
    return Stored(store, cycles, strategy_id, runtime, clock)


async def test_a_stored_cycle_reads_back_equal_to_the_cycle_that_ran(store: Store) -> None:
    stored = await build(store, PERP)
    results = [await stored.run() for _ in SCRIPT]
    assert any(r.trades for r in results) and any(r.guard_notes for r in results)
    for result in results:
        assert await stored.cycles.get(result.compose_id) == result


async def test_a_second_cycle_for_a_used_slot_is_refused_and_leaves_nothing_behind(
    store: Store,
) -> None:
    stored = await build(store, PERP)
    first = await stored.run(slot=START)
    counts = await _counts(store)
    with pytest.raises(SlotTaken):
        await stored.run(slot=START)
    assert await _counts(store) == counts
    assert [c.compose_id for c in await stored.runtime.coordinator.recorder.get_cycles()] == [
        first.compose_id
    ]


async def test_a_cycle_whose_transaction_fails_half_way_stores_none_of_its_rows(
    store: Store,
) -> None:
    stored = await build(store, PERP)
    result = await stored.run()
    twice = result.model_copy(
        update={"compose_id": "c_other", "slot_ts": 1, "trades": result.trades * 2}
    )
    counts = await _counts(store)
    with pytest.raises(StoreError, match="could not be stored"):
        await stored.cycles.insert(
            twice, kind="decision", ledger=stored.runtime.coordinator.portfolio.ledger
        )
    assert await _counts(store) == counts


def test_the_exact_ledger_round_trips_through_json_digit_for_digit() -> None:
    position = LedgerPosition(
        symbol="BTC-USDT",
        quantity=Decimal("-0.123456789012345678"),
        cost=Decimal("-8123.4500000000000000001"),
        entry_fees=Decimal("0.0812345"),
        leverage=Decimal("3"),
        entry_ts=START,
        mark_price=Decimal("65000.1"),
    )
    ledger = Ledger(
        market_type=MarketType.PERPETUAL,
        initial_capital=Decimal("5000"),
        cash=Decimal("4987.123456789012345678901234567890"),
        positions={"BTC-USDT": position},
        realized_pnl=Decimal("-12.5E-7"),
        fees_paid=Decimal("0.10"),
    )
    again = ledger_from_json(ledger_to_json(ledger))
    assert again == ledger
    assert str(again.cash) == str(ledger.cash)


def test_a_positions_levels_and_entry_round_trip_through_the_stored_ledger() -> None:
    entry = PositionEntry(rationale='breakout "above" the range', compose_id="c_1", decided_ts=7)
    position = LedgerPosition(
        symbol="BTC-USDT",
        quantity=Decimal("0.5"),
        cost=Decimal("50000"),
        entry_fees=Decimal("5"),
        leverage=Decimal("1"),
        entry_ts=START,
        stop_loss=Decimal("95000.5"),
        take_profit=Decimal("110000"),
        entry=entry,
    )
    bare = replace(position, symbol="ETH-USDT", stop_loss=None, take_profit=None, entry=None)
    ledger = Ledger.open_account(MarketType.SPOT, Decimal("100000"))
    ledger = replace(ledger, positions={"BTC-USDT": position, "ETH-USDT": bare})
    assert ledger_from_json(ledger_to_json(ledger)) == ledger
    assert "stop_loss" not in json.loads(ledger_to_json(ledger))["positions"]["ETH-USDT"]


async def test_a_cycles_adjustments_read_back_equal_on_every_backend(store: Store) -> None:
    stored = await build(store, PERP)
    result = await stored.run()
    proposed = LevelAdjustment(
        adjustment_id=f"{result.compose_id}:0",
        compose_id=result.compose_id,
        instrument=InstrumentRef(symbol="BTC-USDT"),
        stop_loss=98.5,
        cancel_take_profit=True,
        meta={"confidence": 0.6, "rationale": "tighter"},
    )
    applied = proposed.model_copy(update={"previous_stop_loss": 90.0})
    adjusted = result.model_copy(
        update={
            "compose_id": "c_adjusted",
            "slot_ts": 1,
            "trades": [],
            "tx_results": [],
            "proposed_adjustments": [proposed],
            "adjustments": [applied],
        }
    )
    await stored.cycles.insert(
        adjusted, kind="decision", ledger=stored.runtime.coordinator.portfolio.ledger
    )
    assert await stored.cycles.get("c_adjusted") == adjusted
    assert await stored.cycles.get(result.compose_id) == result  # none: read back empty


async def test_portfolio_and_digest_rebuilt_from_the_store_equal_the_running_ones(
    store: Store,
) -> None:
    stored = await build(store, PERP)
    for _ in SCRIPT:
        await stored.run()
    running = stored.runtime.coordinator
    portfolio = await SqlitePortfolioService.load(stored.cycles, stored.strategy_id, PERP)
    digest = await SqliteDigestBuilder.load(stored.cycles, stored.strategy_id, PERP)
    assert portfolio.ledger == running.portfolio.ledger
    assert await portfolio.get_view() == await running.portfolio.get_view()
    assert digest.state == running.digest.state
    assert await digest.build() == await running.digest.build()


async def test_the_stored_fills_replayed_from_an_open_account_give_every_stored_ledger(
    store: Store,
) -> None:
    stored = await build(store, PERP)
    results = [await stored.run() for _ in SCRIPT]
    assert sum(len(r.tx_results) for r in results) >= 5
    assert await stored_ledger_mismatches(store, stored.strategy_id, PERP) == 0


async def test_failure_cycles_count_consecutive_failures_and_stay_out_of_the_digest(
    store: Store,
) -> None:
    stored = await build(store, PERP)
    recorder = stored.runtime.coordinator.recorder
    assert isinstance(recorder, SqliteHistoryRecorder)
    await stored.run()
    view = await stored.runtime.coordinator.portfolio.get_view()
    for i in range(3):
        failure = CycleResult(
            compose_id=f"c_fail{i}",
            strategy_id=stored.strategy_id,
            ts=START + i,
            slot_ts=START + i,
            status=CycleStatus.ERROR,
            reason="temporary failure: TemporaryError: timeout",
            portfolio=view,
            strategy_summary=summarize(view),
        )
        await recorder.record_failure(failure)
        assert recorder.consecutive_failures == i + 1
    digest = await SqliteDigestBuilder.load(stored.cycles, stored.strategy_id, PERP)
    assert digest.state == stored.runtime.coordinator.digest.state
    await stored.run()
    assert recorder.consecutive_failures == 0


async def test_credentials_never_reach_the_database_file(tmp_path: Path) -> None:
    """SQLite only: it reads the file's bytes."""
    db = await Database.open(tmp_path / "t.db")
    secret = "sk-live-DO-NOT-STORE-1234567890"
    request = UserRequest(
        exchange_config=ExchangeConfig(
            api_key=SecretStr(secret), secret_key=SecretStr(secret), passphrase=SecretStr(secret)
        ),
        trading_config=TradingConfig(initial_capital=1_000, symbols=["BTC-USDT"]),
    )
    assert "api_key" not in request.model_dump()["exchange_config"]
    assert secret not in request_to_json(request)
    stored = await StrategyRepository(db).insert(
        strategy_id="s_secret",
        name="s",
        agent_kind="default",
        request=request,
        replay=None,
        owner="~owner",
    )
    assert stored.request.exchange_config.api_key is None
    files = [p for p in tmp_path.iterdir() if p.name.startswith("t.db")]
    assert files and all(secret.encode() not in p.read_bytes() for p in files)
    await db.close()


async def test_the_recorder_lists_cycles_and_trades_oldest_first(store: Store) -> None:
    stored = await build(store, PERP)
    results = [await stored.run() for _ in SCRIPT]
    recorder = stored.runtime.coordinator.recorder
    assert [c.compose_id for c in await recorder.get_cycles()] == [r.compose_id for r in results]
    assert [c.compose_id for c in await recorder.get_cycles(limit=2)] == [
        r.compose_id for r in results[-2:]
    ]
    assert await recorder.get_trades() == [t for r in results for t in r.trades]


async def _counts(store: Store) -> tuple[int, ...]:
    tables = ("cycles", "instructions", "guard_notes", "tx_results", "trades")
    return tuple([(await store.rows.fetchone(f"SELECT COUNT(*) FROM {t}"))[0] for t in tables])
