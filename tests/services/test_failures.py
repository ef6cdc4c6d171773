"""Failures through the service: error cycles, N in a row, operational stops; positions kept."""

from __future__ import annotations

import logging

import pytest

from tests.fakes import StaticPipeline, instruction
from tests.services.helpers import FailingComposer, ScriptedAgent, live_request, scripted
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.base_agent import BaseStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.errors import AccountingError, MarketDataUnavailable, OperationalError
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    CycleStatus,
    StrategyStatus,
    TradeSide,
)

PRICES = [{"BTC-USDT": 100.0}]


class BuyThenFail(BaseComposer):
    """Buys once, then raises the scripted errors."""

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.bought = False

    async def compose(self, context: ComposeContext) -> ComposeResult:
        if not self.bought:
            self.bought = True
            buy = instruction("BTC-USDT", TradeSide.BUY, 2.0, compose_id=context.compose_id)
            return ComposeResult(instructions=[buy])
        if self.errors:
            raise self.errors.pop(0)
        return ComposeResult()


def service_with(settings: Settings, clock: SimulatedClock, composer: BaseComposer):  # type: ignore[no-untyped-def]
    agent: BaseStrategyAgent = ScriptedAgent(PRICES, lambda: composer)
    return StrategyService.open(settings, agents={"default": agent}, clock=clock)


async def run_cycles(svc: StrategyService, clock: SimulatedClock, sid: str, n: int) -> list:
    results = []
    for _ in range(n):
        clock.advance(1)
        results.append(await svc.run_cycle_now(sid))
    return results


async def test_a_temporary_failure_records_an_error_cycle_and_the_strategy_goes_on(
    settings: Settings, clock: SimulatedClock
) -> None:
    composer = FailingComposer([MarketDataUnavailable("exchange busy"), None])
    async with service_with(settings, clock, composer) as svc:
        sid = (await svc.create(live_request(decide_interval=3600), name="a")).strategy_id
        await svc.start(sid)
        failed, ok = await run_cycles(svc, clock, sid, 2)
        assert failed.status is CycleStatus.ERROR and "exchange busy" in failed.reason
        assert ok.status is CycleStatus.OK
        info = await svc.get(sid)
        assert info.status is StrategyStatus.RUNNING and info.consecutive_failures == 0
        assert await svc.get_cycle(failed.compose_id) == failed


async def test_n_consecutive_failures_move_the_strategy_to_error_with_the_reason(
    settings: Settings, clock: SimulatedClock
) -> None:
    settings = settings.model_copy(update={"max_consecutive_failures": 3})
    composer = BuyThenFail([MarketDataUnavailable(f"timeout {i}") for i in range(3)])
    async with service_with(settings, clock, composer) as svc:
        sid = (await svc.create(live_request(decide_interval=3600), name="a")).strategy_id
        await svc.start(sid)
        await run_cycles(svc, clock, sid, 3)
        assert (await svc.get(sid)).status is StrategyStatus.RUNNING
        await run_cycles(svc, clock, sid, 1)
        info = await svc.get(sid)
        assert info.status is StrategyStatus.ERROR
        assert info.reason.startswith("3 consecutive failures; last: temporary failure")
        assert "timeout 2" in info.reason
        assert set((await svc.get_portfolio(sid)).positions) == {"BTC-USDT"}  # not flattened
        assert info.next_run_ms is None


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (OperationalError("API key rejected"), False),
        (AccountingError("cash would go negative"), True),
        (ZeroDivisionError("a bug"), True),
    ],
)
async def test_operational_accounting_and_unexpected_failures_move_to_error_at_once(  # type: ignore[no-untyped-def]
    settings: Settings, clock: SimulatedClock, caplog, error, logged
) -> None:
    caplog.set_level(logging.ERROR, logger="tradeloop.services.slots.boundary")
    async with service_with(settings, clock, BuyThenFail([error])) as svc:
        sid = (await svc.create(live_request(decide_interval=3600), name="a")).strategy_id
        await svc.start(sid)
        await run_cycles(svc, clock, sid, 2)
        info = await svc.get(sid)
        assert info.status is StrategyStatus.ERROR and str(error) in info.reason
        assert set((await svc.get_portfolio(sid)).positions) == {"BTC-USDT"}
        assert any(r.exc_info for r in caplog.records) is logged
        # a strategy in error can be started again once the cause is fixed
        assert (await svc.start(sid)).status is StrategyStatus.RUNNING


async def test_an_error_cycle_records_the_portfolio_as_stored_before_it(
    settings: Settings, clock: SimulatedClock
) -> None:
    class ExplodingPipeline(StaticPipeline):
        async def build(self):  # type: ignore[no-untyped-def]
            if self.calls == 1:
                self.calls += 1
                raise MarketDataUnavailable("venue down")
            return await super().build()

    class Agent(ScriptedAgent):
        async def _build_features_pipeline(self, request):  # type: ignore[no-untyped-def]
            return ExplodingPipeline(self.prices)

    agents = {"default": Agent(PRICES, lambda: BuyThenFail([]))}
    async with StrategyService.open(settings, agents=agents, clock=clock) as svc:
        sid = (await svc.create(live_request(decide_interval=3600), name="a")).strategy_id
        bought, failed, after = await run_cycles(svc, clock, sid, 3)
        assert failed.status is CycleStatus.ERROR and "venue down" in failed.reason
        assert failed.portfolio == bought.portfolio
        assert after.portfolio.positions["BTC-USDT"].quantity == 2.0


async def test_a_cycle_refused_for_its_used_slot_leaves_no_executed_fill_behind(
    settings: Settings, clock: SimulatedClock
) -> None:
    agent = ScriptedAgent(PRICES, scripted([[("BTC-USDT", TradeSide.BUY, 1.0, None)]] * 3))
    async with StrategyService.open(settings, agents={"default": agent}, clock=clock) as svc:
        sid = (await svc.create(live_request(decide_interval=3600), name="a")).strategy_id
        await svc.run_cycle_now(sid)
        with pytest.raises(OperationalError, match="could not be recorded"):
            await svc.run_cycle_now(sid)  # same clock time: the slot is taken after execution
        clock.advance(1)
        third = await svc.run_cycle_now(sid)
        assert third.portfolio.positions["BTC-USDT"].quantity == 2.0
        assert (await svc.get(sid)).cycles == 2
