"""APScheduler wiring: aligned interval jobs, run-soon jobs, cancel and a bounded shutdown."""

from __future__ import annotations

import asyncio

from tradeloop.scheduler.jobs import StrategyScheduler
from tradeloop.trading.clock import SimulatedClock

WAIT_S = 5.0


async def test_an_interval_job_is_aligned_to_multiples_of_its_interval_since_the_epoch() -> None:
    scheduler = StrategyScheduler(misfire_grace_s=30)
    scheduler.start()
    try:

        async def job(slot: int) -> None: ...

        for key, interval in (("a", 60), ("b", 3600), ("c", 7)):
            scheduler.every(key, interval, job)
            next_run = scheduler.next_run_ms(key)
            assert next_run is not None and next_run % (interval * 1000) == 0
    finally:
        await scheduler.shutdown(0)


def test_the_misfire_grace_time_stays_below_the_interval_and_is_whole_seconds() -> None:
    scheduler = StrategyScheduler(misfire_grace_s=30)
    assert scheduler.grace_for(3600) == 30
    assert scheduler.grace_for(20) == 10
    assert scheduler.grace_for(1) == 1


async def test_an_interval_job_receives_the_slot_it_fired_for_and_records_its_delay() -> None:
    scheduler = StrategyScheduler(misfire_grace_s=30)
    slots: asyncio.Queue[int] = asyncio.Queue()
    scheduler.start()
    try:
        scheduler.every("fast", 0.05, slots.put)
        first = await asyncio.wait_for(slots.get(), WAIT_S)
        second = await asyncio.wait_for(slots.get(), WAIT_S)
    finally:
        await scheduler.shutdown(0)
    assert first % 50 == 0 and second % 50 == 0 and second > first
    assert len(scheduler.delays.samples) >= 2
    assert scheduler.delays.percentile(50) is not None


async def test_jobs_are_told_the_time_of_the_injected_clock() -> None:
    # APScheduler fires on the wall clock; the slot and the soon time come from the clock given
    clock = SimulatedClock(1_750_000_000_250)
    scheduler = StrategyScheduler(misfire_grace_s=30, clock=clock)
    told: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    scheduler.start()
    try:
        scheduler.every("interval", 0.05, lambda slot: told.put(("interval", slot)))
        first = await asyncio.wait_for(told.get(), WAIT_S)
        scheduler.cancel("interval")
        clock.set(1_750_000_010_262)
        scheduler.soon("soon", lambda now: told.put(("soon", now)))
        second = await asyncio.wait_for(told.get(), WAIT_S)
        while second[0] == "interval":  # fired again before it was cancelled
            second = await asyncio.wait_for(told.get(), WAIT_S)
    finally:
        await scheduler.shutdown(0)
    assert first == ("interval", 1_750_000_000_250)  # 250 ms is a multiple of 50 ms
    assert second == ("soon", 1_750_000_010_262)
    assert list(scheduler.delays.samples)[:1] == [0]


async def test_a_soon_job_runs_once_and_a_cancelled_job_never_runs() -> None:
    scheduler = StrategyScheduler(misfire_grace_s=30)
    ran: list[str] = []
    done = asyncio.Event()

    async def record(key: str, _now: int) -> None:
        ran.append(key)
        done.set()

    scheduler.start()
    try:
        scheduler.soon("cancelled", lambda now: record("cancelled", now))
        scheduler.cancel("cancelled")
        scheduler.soon("kept", lambda now: record("kept", now))
        await asyncio.wait_for(done.wait(), WAIT_S)
        assert scheduler.next_run_ms("kept") is None
    finally:
        await scheduler.shutdown(0)
    assert ran == ["kept"]


async def test_shutdown_lets_a_job_finish_within_the_grace_and_cancels_it_after() -> None:
    async def run(grace_s: float, release_during_grace: bool) -> list[str]:
        scheduler = StrategyScheduler(misfire_grace_s=30)
        started, release = asyncio.Event(), asyncio.Event()
        outcome: list[str] = []

        async def slow(_now: int) -> None:
            started.set()
            try:
                await release.wait()
                outcome.append("finished")
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        scheduler.start()
        scheduler.soon("slow", slow)
        await asyncio.wait_for(started.wait(), WAIT_S)
        stopping = asyncio.create_task(scheduler.shutdown(grace_s))
        await asyncio.sleep(0)  # shutdown is now waiting on the job
        assert outcome == [] and not stopping.done()
        if release_during_grace:
            release.set()
        await asyncio.wait_for(stopping, WAIT_S)
        return outcome

    assert await run(WAIT_S, release_during_grace=True) == ["finished"]
    assert await run(0.05, release_during_grace=False) == ["cancelled"]  # blocked past the grace


async def test_shutdown_waits_for_a_job_that_finishes_within_the_grace() -> None:
    scheduler = StrategyScheduler(misfire_grace_s=30)
    started = asyncio.Event()
    outcome: list[str] = []

    async def quick(_now: int) -> None:
        started.set()
        await asyncio.sleep(0)  # one turn of the loop: still in flight when shutdown begins
        outcome.append("finished")

    scheduler.start()
    scheduler.soon("quick", quick)
    await asyncio.wait_for(started.wait(), WAIT_S)
    await scheduler.shutdown(WAIT_S)
    assert outcome == ["finished"]
