"""Risk stops in code: crossing max_drawdown_pct or daily_loss_limit stops the strategy."""

from __future__ import annotations

from tests.services.helpers import ScriptedAgent, live_request, scripted
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.models import StrategyStatus, TradeSide

BUY = TradeSide.BUY
FALLING = [{"BTC-USDT": 100.0}, {"BTC-USDT": 95.0}, {"BTC-USDT": 70.0}, {"BTC-USDT": 60.0}]


async def run(settings: Settings, clock: SimulatedClock, **limits: object):  # type: ignore[no-untyped-def]
    agent = ScriptedAgent(FALLING, scripted([[("BTC-USDT", BUY, 9.0, None)]]))
    async with StrategyService.open(settings, agents={"default": agent}, clock=clock) as svc:
        sid = (await svc.create(live_request(**limits), name="a")).strategy_id
        await svc.start(sid)
        for _ in range(3):
            clock.advance(1)
            await svc.run_cycle_now(sid)
            if (await svc.get(sid)).status is not StrategyStatus.RUNNING:
                break
        return await svc.get(sid), await svc.get_portfolio(sid)


async def test_crossing_max_drawdown_stops_the_strategy_with_the_reason_and_keeps_positions(
    settings: Settings, clock: SimulatedClock
) -> None:
    info, portfolio = await run(settings, clock, max_drawdown_pct=20)
    assert info.status is StrategyStatus.STOPPED
    assert info.reason.startswith("risk stop: drawdown") and "max_drawdown_pct 20" in info.reason
    assert info.cycles == 3
    assert portfolio.positions["BTC-USDT"].quantity == 9.0


async def test_with_close_on_stop_a_risk_stop_closes_the_strategys_positions(
    settings: Settings, clock: SimulatedClock
) -> None:
    info, portfolio = await run(settings, clock, max_drawdown_pct=20, close_on_stop=True)
    assert info.status is StrategyStatus.STOPPED and "max_drawdown_pct" in info.reason
    assert portfolio.positions == {}
    assert info.cycles == 4  # the closing cycle is recorded too


async def test_crossing_the_daily_loss_limit_stops_the_strategy(
    settings: Settings, clock: SimulatedClock
) -> None:
    info, _ = await run(settings, clock, daily_loss_limit=100)
    assert info.status is StrategyStatus.STOPPED
    assert info.reason.startswith("risk stop: loss today") and "daily_loss_limit 100" in info.reason
    assert info.cycles == 3
