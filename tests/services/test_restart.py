"""Restarts: what was stored reads back identical, running strategies resume where they were."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.services.helpers import ScriptedAgent, live_request, replay_request, scripted
from tests.store_backends import StoreTarget, fetch
from tradeloop.services.models import ServiceEvent
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.models import CycleStatus, StrategyStatus

WAIT_S = 10.0
START_MS = 1_750_000_000_000  # 2025-06-15T15:06:40Z, a whole second


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
def settings(store_target: StoreTarget) -> Settings:
    """On both backends: a restart resumes from the store, whichever it is."""
    return store_target.settings(shutdown_grace_s=5)


async def next_cycle(events: asyncio.Queue[ServiceEvent], sid: str) -> ServiceEvent:
    async def wait() -> ServiceEvent:
        while True:
            event = await events.get()
            if event.strategy_id == sid and event.cycle is not None:
                return event

    return await asyncio.wait_for(wait(), WAIT_S)


async def next_status(events: asyncio.Queue[ServiceEvent], sid: str) -> ServiceEvent:
    async def wait() -> ServiceEvent:
        while True:
            event = await events.get()
            if event.strategy_id == sid and event.cycle is None:
                return event

    return await asyncio.wait_for(wait(), WAIT_S)


async def snapshot(svc: StrategyService, sid: str) -> tuple:
    info = await svc.get(sid)
    return (
        await svc.get_digest(sid),
        await svc.get_portfolio(sid),
        info.model_copy(update={"next_run_ms": None, "updated_at": 0}),
        await svc.list_cycles(sid, limit=500),
        await svc.list_trades(sid, limit=500),
    )


async def test_after_a_restart_digest_portfolio_and_history_read_identical(
    settings: Settings, shared_data: Path
) -> None:
    async with StrategyService.open(settings) as svc:
        sid = (await svc.create(replay_request(), replay=shared_data)).strategy_id
        for _ in range(120):
            await svc.run_cycle_now(sid)
        before = await snapshot(svc, sid)
        assert before[0].by_instrument and before[1].positions is not None
    async with StrategyService.open(settings) as svc:
        assert await snapshot(svc, sid) == before
        await svc.preview_decision(sid)  # loads the runtime: its rebuilt digest is the same
        assert await svc.get_digest(sid) == before[0]
        assert await svc.get_portfolio(sid) == before[1]


async def test_a_running_replay_resumes_on_open_at_the_slot_after_the_last_stored_one(
    settings: Settings, shared_data: Path
) -> None:
    async with StrategyService.open(settings) as svc:
        sid = (await svc.create(replay_request(), replay=shared_data)).strategy_id
        await svc.limit_cycles(sid, 5)
        events = svc.subscribe()
        await svc.start(sid)
        assert (await next_status(events, sid)).status is StrategyStatus.RUNNING
        assert (await next_status(events, sid)).status is StrategyStatus.PAUSED
        info = await svc.get(sid)
        assert info.cycles == 5
        assert info.status is StrategyStatus.PAUSED and info.reason == "max cycles reached (5)"
        last = info.last_slot_ts
        await svc.resume(sid)
    # closed while running: the next open resumes it
    async with StrategyService.open(settings) as svc:
        events = svc.subscribe()
        assert (await svc.get(sid)).status is StrategyStatus.RUNNING
        event = await next_cycle(events, sid)
        await svc.pause(sid)
    assert event.cycle is not None and event.cycle.slot_ts is not None
    assert event.cycle.slot_ts > last  # type: ignore[operator]
    slots = [r["slot_ts"] for r in await fetch(settings, "SELECT slot_ts FROM cycles ORDER BY id")]
    assert slots == list(range(slots[0], slots[-1] + 3_600_000, 3_600_000))


async def test_slots_missed_while_the_process_was_down_are_recorded_as_one_skipped_cycle(
    settings: Settings, clock: SimulatedClock
) -> None:
    # 1 s slots on the simulated clock: the first cycle takes the slot at START_MS; the process
    # is then down for 101 s, so the 100 slots after it are missed and the next one runs
    agent = ScriptedAgent([{"BTC-USDT": 100.0}], scripted([]))
    async with StrategyService.open(settings, agents={"default": agent}, clock=clock) as svc:
        events = svc.subscribe()
        sid = (await svc.create(live_request(decide_interval=1), name="a")).strategy_id
        await svc.start(sid)
        ran = (await next_cycle(events, sid)).cycle
    assert ran is not None and ran.slot_ts == START_MS
    clock.advance(101)
    async with StrategyService.open(settings, agents={"default": agent}, clock=clock) as svc:
        events = svc.subscribe()
        skipped = (await next_cycle(events, sid)).cycle
        resumed = (await next_cycle(events, sid)).cycle
        await svc.stop(sid)
    assert skipped is not None and resumed is not None
    assert skipped.status is CycleStatus.SKIPPED and skipped.slot_ts == START_MS + 1_000
    assert skipped.reason == (
        "missed 100 slot(s) from 2025-06-15T15:06:41+00:00 to 2025-06-15T15:08:20+00:00: "
        "the process was not running or its event loop was blocked"
    )
    assert resumed.status is CycleStatus.OK and resumed.slot_ts == START_MS + 101_000


async def test_a_strategy_that_can_no_longer_run_moves_to_error_on_open_with_the_reason(
    settings: Settings, shared_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("binance_spot_BTCUSDT_1h.csv", "binance_spot_ETHUSDT_1h.csv"):
        shutil.copy(shared_data / name, data / name)
    async with StrategyService.open(settings) as svc:
        sid = (await svc.create(replay_request(), replay=data)).strategy_id
        events = svc.subscribe()
        await svc.start(sid)
        await next_cycle(events, sid)
    shutil.rmtree(data)
    async with StrategyService.open(settings) as svc:
        info = await svc.get(sid)
    assert info.status is StrategyStatus.ERROR
    assert info.reason.startswith("could not resume:") and "does not exist" in info.reason


async def test_a_digest_read_from_the_store_continues_with_the_cycles_stored_since(
    settings: Settings, shared_data: Path
) -> None:
    async with StrategyService.open(settings) as svc:
        sid = (await svc.create(replay_request(), replay=shared_data)).strategy_id
        for _ in range(40):
            await svc.run_cycle_now(sid)
    async with StrategyService.open(settings) as svc:
        first = await svc.get_digest(sid)  # not loaded: folded from the store
        for _ in range(40):
            await svc.run_cycle_now(sid)
        in_memory = await svc.get_digest(sid)
        await svc.stop(sid)  # unloaded: read from the store again
        assert await svc.get_digest(sid) == in_memory != first
        await svc.update(sid, sharpe_window=10)
        narrowed = await svc.get_digest(sid)
    assert narrowed.recent_window == 10
    assert narrowed.sharpe_ratio_recent != in_memory.sharpe_ratio_recent
    assert narrowed.sharpe_ratio == in_memory.sharpe_ratio  # the whole history: any window
    async with StrategyService.open(settings) as svc:
        assert await svc.get_digest(sid) == narrowed
