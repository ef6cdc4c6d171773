"""APScheduler 3.x in the server's event loop: one job per running strategy.

``every``: an interval job whose fire times are the multiples of the interval since the epoch
(a 60 s strategy runs at :00 of every minute, an hourly one at the top of the hour), with
``max_instances=1``, ``coalesce=True`` and an explicit ``misfire_grace_time`` below the interval.
The job receives its slot (the boundary it fired for), so a late start is never taken for the next
slot. ``soon``: one run as soon as possible, for replays that go as fast as cycles compute (the job
schedules its successor when it is done).

Slots APScheduler drops (late past the grace time, or coalesced) leave a gap the job body detects
from the last stored slot; ``take_missed`` tells it why, when APScheduler reported the miss.

APScheduler fires on the wall clock; what a job is told (its slot, the time of a ``soon`` run, how
late a missed slot was) comes from the injected ``Clock``, the one the service runs on, so tests on
a ``SimulatedClock`` get exact slots. Production passes ``SystemClock``: the same wall time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tradeloop.trading.clock import Clock, SystemClock, slot_step_ms

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DELAY_SAMPLES = 200_000

SlotJob = Callable[[int], Awaitable[None]]
"""Receives the slot time in ms (for ``soon`` jobs: the time it was asked for)."""


class StartDelays:
    """How long after its slot each interval job started, in ms (the latest samples)."""

    def __init__(self) -> None:
        self.samples: deque[int] = deque(maxlen=MAX_DELAY_SAMPLES)

    def add(self, delay_ms: int) -> None:
        self.samples.append(delay_ms)

    def percentile(self, pct: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
        return float(ordered[index])


def quiet_job_lines() -> None:
    """APScheduler logs three INFO lines per job run (added, running, executed successfully); the
    cycle's own line says all of it. Left as it is when the operator set a level for
    ``apscheduler`` or logs at DEBUG."""
    aps = logging.getLogger("apscheduler")
    if aps.level == logging.NOTSET and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        aps.setLevel(logging.WARNING)


class StrategyScheduler:
    def __init__(self, *, misfire_grace_s: float, clock: Clock | None = None) -> None:
        quiet_job_lines()
        self._clock = clock or SystemClock()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._grace_s = misfire_grace_s
        self._soon_ids: dict[str, str] = {}
        self._seq = itertools.count()
        self._missed: dict[str, str] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._abandoned: set[asyncio.Task[None]] = set()
        self.delays = StartDelays()
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)

    def start(self) -> None:
        """Start in the running event loop."""
        self._scheduler.start()

    async def shutdown(self, grace_s: float) -> None:
        """Start nothing more; give running jobs ``grace_s`` to finish, then cancel them."""
        if self._scheduler.running:
            self._scheduler.pause()
        pending = {task for task in self._inflight if not task.done()}
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for task in late:
                logger.warning("abandoning a cycle still running at shutdown")
                self._abandoned.add(task)
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(self, key: str, interval_s: float, job: SlotJob) -> None:
        """Run ``job(slot_ms)`` at every multiple of ``interval_s`` since the epoch."""
        self.cancel(key)
        interval_ms = slot_step_ms(interval_s)
        self._scheduler.add_job(
            self._run_interval,
            IntervalTrigger(seconds=interval_ms / 1000, start_date=EPOCH, timezone=UTC),
            args=(interval_ms, job),
            id=key,
            name=key,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=self.grace_for(interval_s),
        )

    def soon(self, key: str, job: SlotJob) -> None:
        """Run ``job(now_ms)`` once, as soon as the loop gets to it."""
        self.cancel(key)
        job_id = f"{key}#{next(self._seq)}"
        self._soon_ids[key] = job_id
        self._scheduler.add_job(
            self._run_soon,
            DateTrigger(timezone=UTC),  # now, on APScheduler's (wall) clock
            args=(key, job_id, job),
            id=job_id,
            name=key,
            max_instances=1,
            misfire_grace_time=None,
        )

    def cancel(self, key: str) -> None:
        """Remove the strategy's job (a run in progress finishes)."""
        for job_id in (key, self._soon_ids.pop(key, None)):
            if job_id is None:
                continue
            try:
                self._scheduler.remove_job(job_id)
            except JobLookupError:
                pass

    def next_run_ms(self, key: str) -> int | None:
        for job_id in (key, self._soon_ids.get(key)):
            job = self._scheduler.get_job(job_id) if job_id else None
            if job is not None and job.next_run_time is not None:
                return int(job.next_run_time.timestamp() * 1000)
        return None

    def take_missed(self, key: str) -> str | None:
        """Why APScheduler last dropped a run of ``key``, if it did (and forget it)."""
        return self._missed.pop(key, None)

    def grace_for(self, interval_s: float) -> int:
        """APScheduler wants whole seconds; below the interval wherever the interval allows."""
        return max(1, int(min(self._grace_s, interval_s / 2)))

    async def _run_interval(self, interval_ms: int, job: SlotJob) -> None:
        now = self._clock.now_ms()
        slot = now - now % interval_ms
        self.delays.add(now - slot)
        await self._tracked(job(slot))

    async def _run_soon(self, key: str, job_id: str, job: SlotJob) -> None:
        if self._soon_ids.get(key) == job_id:
            del self._soon_ids[key]
        await self._tracked(job(self._clock.now_ms()))

    async def _tracked(self, run: Awaitable[None]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await run
        except asyncio.CancelledError:
            if task not in self._abandoned:
                raise
            # Abandoned by ``shutdown`` (already logged): the job ends quietly instead of
            # APScheduler logging the cancellation as a job failure with a traceback.
        finally:
            self._inflight.discard(task)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        scheduled = event.scheduled_run_time
        late = self._clock.now_ms() / 1000 - scheduled.timestamp()
        self._missed[event.job_id] = (
            f"the slot at {scheduled.isoformat()} started {late:.1f} s late, past its "
            "misfire_grace_time"
        )
        logger.warning("missed slot job=%s scheduled=%s late=%.1fs", event.job_id, scheduled, late)
