"""The coordinator's dry run (what ``preview_decision`` shows) and cycles decided by another
composer (forced closes): the strategy's own state stays as it was."""

from __future__ import annotations

from tests.fakes import RecordingGateway, ScriptedComposer, StaticPipeline
from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.history.recorder import InMemoryHistoryRecorder
from tradeloop.trading.models import CycleStatus, TradeSide, TradingConfig, UserRequest

BUY = TradeSide.BUY
PRICES = [{"BTC-USDT": 100.0, "ETH-USDT": 10.0}]


def request() -> UserRequest:
    return UserRequest(
        trading_config=TradingConfig(initial_capital=1_000, symbols=["BTC-USDT", "ETH-USDT"])
    )


async def coordinator_with(script, gateway=None, recorder=None):  # type: ignore[no-untyped-def]
    parts = Components(
        pipeline=StaticPipeline(PRICES),
        composer=ScriptedComposer(script),
        clock=SimulatedClock(1_700_000_000_000),
        gateway=gateway,
        recorder=recorder,
    )
    return (await DefaultStrategyAgent().create_runtime(request(), components=parts)).coordinator


async def test_a_dry_run_proposes_and_guards_but_sends_records_and_remembers_nothing() -> None:
    gateway = RecordingGateway(PaperExecutionGateway())
    recorder = InMemoryHistoryRecorder()
    # DOGE is not one of the strategy's symbols: the guardrails drop it
    script = [[("BTC-USDT", BUY, 1.0, None), ("DOGE-USDT", BUY, 1.0, None)]]
    coordinator = await coordinator_with(script, gateway, recorder)

    preview = await coordinator.dry_run()

    assert preview.status is CycleStatus.OK
    assert [(i.instrument.symbol, i.quantity) for i in preview.proposed] == [
        ("BTC-USDT", 1.0),
        ("DOGE-USDT", 1.0),
    ]
    assert [(i.instrument.symbol, i.quantity) for i in preview.instructions] == [("BTC-USDT", 1.0)]
    assert [n.symbol for n in preview.guard_notes] == ["DOGE-USDT"]
    assert preview.tx_results == [] and preview.trades == []
    assert preview.strategy_summary.equity == 1_000
    assert gateway.received == []
    assert await recorder.get_cycles() == []
    assert list(coordinator.recent) == []


async def test_a_cycle_decided_by_another_composer_leaves_the_strategys_own_in_place() -> None:
    own = [[("ETH-USDT", BUY, 2.0, None)], [("ETH-USDT", BUY, 3.0, None)]]
    coordinator = await coordinator_with(own)
    composer = coordinator.composer
    other = ScriptedComposer([[("BTC-USDT", BUY, 1.0, None)]])

    forced = await coordinator.run_once(composer=other)
    after = await coordinator.run_once()

    assert [i.instrument.symbol for i in forced.instructions] == ["BTC-USDT"]
    assert coordinator.composer is composer
    assert [(i.instrument.symbol, i.quantity) for i in after.instructions] == [("ETH-USDT", 2.0)]
