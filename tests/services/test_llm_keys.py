"""An ``llm`` strategy without its API key is refused before it can run, never sent to error; and
no record is stamped with epoch 0 (a fresh account is as of the strategy's creation)."""

from __future__ import annotations

import time

import pytest

from tests.services.helpers import FailingComposer, ScriptedAgent, live_request
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.errors import ConfigError, MarketDataUnavailable
from tradeloop.trading.models import CycleStatus, StrategyStatus

KEY = "ANTHROPIC_API_KEY"


def llm_request():  # type: ignore[no-untyped-def]
    return live_request(composer="llm")


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(KEY, raising=False)
    return monkeypatch


async def test_creating_an_llm_strategy_without_the_key_is_refused_naming_it(
    service: StrategyService, no_key
) -> None:
    with pytest.raises(ConfigError, match=f"{KEY} is not set") as refused:
        await service.create(llm_request(), name="claude")
    assert "composer='rules'" in str(refused.value)
    assert await service.list() == []


async def test_starting_resuming_or_running_an_llm_strategy_whose_key_went_away_is_refused(
    service: StrategyService, no_key
) -> None:
    no_key.setenv(KEY, "sk-ant-test")
    sid = (await service.create(llm_request(), name="claude")).strategy_id
    no_key.delenv(KEY)
    for action in (service.start, service.run_cycle_now):
        with pytest.raises(ConfigError, match=f"{KEY} is not set"):
            await action(sid)
    info = await service.get(sid)
    assert info.status is StrategyStatus.CREATED and info.cycles == 0


async def test_updating_a_strategy_to_the_llm_composer_without_the_key_is_refused(
    service: StrategyService, no_key
) -> None:
    sid = (await service.create(live_request(), name="rules")).strategy_id
    with pytest.raises(ConfigError, match=f"{KEY} is not set"):
        await service.update(sid, composer="llm")
    assert (await service.get(sid)).request.trading_config.composer == "rules"


async def test_a_running_llm_strategy_without_its_key_at_start_up_stays_paused_with_the_reason(
    settings: Settings, clock: SimulatedClock, no_key
) -> None:
    no_key.setenv(KEY, "sk-ant-test")
    async with StrategyService.open(settings, clock=clock) as svc:
        sid = (await svc.create(llm_request(), name="claude")).strategy_id
        await svc.start(sid)  # hourly slots on a clock that does not move: no cycle runs
    no_key.delenv(KEY)
    async with StrategyService.open(settings, clock=clock) as svc:
        info = await svc.get(sid)
        assert info.status is StrategyStatus.PAUSED and info.cycles == 0
        assert info.reason is not None and f"{KEY} is not set" in info.reason
        with pytest.raises(ConfigError, match=KEY):
            await svc.resume(sid)
        no_key.setenv(KEY, "sk-ant-test")
        assert (await svc.resume(sid)).status is StrategyStatus.RUNNING


async def test_a_fresh_portfolio_is_as_of_the_strategys_creation_not_epoch_zero(
    service: StrategyService,
) -> None:
    before = time.time_ns() // 1_000_000
    sid = (await service.create(live_request(), name="fresh")).strategy_id
    after = time.time_ns() // 1_000_000
    view = await service.get_portfolio(sid)
    assert before <= view.ts <= after


async def test_a_first_cycle_that_fails_records_its_portfolio_as_of_creation_not_epoch_zero(
    settings: Settings, clock: SimulatedClock
) -> None:
    composer = FailingComposer([MarketDataUnavailable("exchange busy")])
    agent = ScriptedAgent([{"BTC-USDT": 100.0}], lambda: composer)
    async with StrategyService.open(settings, agents={"default": agent}, clock=clock) as svc:
        before = time.time_ns() // 1_000_000
        sid = (await svc.create(live_request(), name="a")).strategy_id
        after = time.time_ns() // 1_000_000
        failed = await svc.run_cycle_now(sid)
        stored = await svc.get_cycle(failed.compose_id)
    assert failed.status is CycleStatus.ERROR
    assert stored.portfolio is not None and before <= stored.portfolio.ts <= after
