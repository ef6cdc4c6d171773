"""SlotRunner: schedules each running strategy's slots and says what each slot's outcome means.

Live data: a job at every multiple of ``decide_interval``; slots missed meanwhile (a restart, a
blocked loop) are recorded as one skipped cycle saying why, never traded late. Replays: the next
simulated slot, back to back or paced by ``speed``; past the data the strategy stops with
"replay finished". After a cycle: the boundary's verdict (``status_after``), else the risk stops
(closing positions first when ``close_on_stop``), then the cycle budget (``limit``). Whether a
slot may run here is ``SlotOwnership``'s to say.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

from tradeloop.scheduler.jobs import StrategyScheduler
from tradeloop.services.desk import Desks
from tradeloop.services.llm_keys import missing_llm_key
from tradeloop.services.loaded import LoadedStrategy
from tradeloop.services.queries import replay_spec
from tradeloop.services.registry import Allowed, StrategyRegistry
from tradeloop.services.slots.boundary import CycleOutcome, run_cycle, status_after
from tradeloop.services.slots.ownership import SlotOwnership
from tradeloop.services.slots.risk import day_start_ms, risk_stop_reason
from tradeloop.store.db import SlotTaken
from tradeloop.store.strategies import StrategyRow
from tradeloop.trading.clock import slot_step_ms
from tradeloop.trading.errors import ConfigError, OperationalError
from tradeloop.trading.models import CycleResult, CycleStatus, StrategyStatus

logger = logging.getLogger(__name__)

S = StrategyStatus
CAN_STOP = frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.ERROR})
REPLAY_FINISHED = "replay finished"


class SlotRunner:
    def __init__(
        self,
        registry: StrategyRegistry,
        scheduler: StrategyScheduler,
        desks: Desks,
        *,
        max_consecutive_failures: int,
        ownership: SlotOwnership | None = None,
    ) -> None:
        self._registry = registry
        self.scheduler = scheduler
        self._desks = desks
        self._max_failures = max_consecutive_failures
        self.ownership = ownership or SlotOwnership()
        self._budgets: dict[str, tuple[int, int]] = {}

    # ------------------------------------------------------------------ commands

    async def begin(
        self, loaded: LoadedStrategy, pause: str | None, *, action: str, allowed: Allowed
    ) -> None:
        """Run ``loaded`` from its next slot, or pause it saying why (``pause``)."""
        if pause is not None:
            await self._registry.move(loaded, S.PAUSED, pause, action=action, allowed=allowed)
            return
        await self._registry.move(loaded, S.RUNNING, None, action=action, allowed=allowed)
        await self.ownership.claim(loaded.strategy_id)
        self.schedule(loaded)

    async def run_now(self, loaded: LoadedStrategy) -> CycleOutcome:
        """One slot now: a replay's next simulated slot (``ConfigError`` past its data)."""
        if loaded.timeline is not None:
            slot = loaded.next_replay_slot()
            if loaded.timeline.finished(slot):
                await self._finish_replay(loaded)
                raise ConfigError(f"strategy {loaded.strategy_id}: {REPLAY_FINISHED}, no data left")
        else:
            slot = loaded.now_ms()
        return await self.run_slot(loaded, slot)

    def limit(self, strategy_id: str, cycles: int | None) -> None:
        """Pause the strategy after ``cycles`` more cycles (None: no limit)."""
        if cycles is None:
            self._budgets.pop(strategy_id, None)
        else:
            self._budgets[strategy_id] = (cycles, cycles)

    async def reload(self, row: StrategyRow) -> None:
        """Rebuild a loaded strategy with its new config; reschedule it when it runs."""
        if row.id not in self._registry.loaded:
            return
        await self._registry.unload(row.id)
        loaded = await self._registry.load(row)
        loaded.check_gap = False
        if loaded.running:
            self.schedule(loaded)

    async def close_positions(
        self, loaded: LoadedStrategy, symbols: Sequence[str] | None, why: str
    ) -> CycleOutcome:
        """A forced close of the strategy's own positions, through the cycle boundary."""
        outcome = await run_cycle(loaded.forced_close(symbols, why), None)
        if outcome.result is not None:
            self._registry.publish(loaded.row, outcome.result)
        return outcome

    # ------------------------------------------------------------------ at open

    async def resume_all(self) -> None:
        """Schedule the strategies stored as running that this process owns, each where it left
        off; one that cannot run is paused (a fixable cause) or moved to error, saying why."""
        running = await self._registry.strategies.all(S.RUNNING)
        await self.resume(self.ownership.take(running))

    async def resume(self, rows: Sequence[StrategyRow]) -> None:
        """Schedule each of ``rows`` where it left off (at open, or taken over from a replica
        whose lease expired: missed slots become one skipped cycle)."""
        for given in rows:
            async with self._registry.lock(given.id):
                if given.id in self._registry.loaded:
                    await self._registry.unload(given.id)  # rebuilt from the store: it moved on
                read_at = time.monotonic()
                row = await self._registry.strategies.get(given.id)  # as of now, not of ``rows``
                if row is None or row.status is not S.RUNNING:
                    continue
                missing = missing_llm_key(row.request)
                if missing is not None:
                    await self._keep_paused(row, missing)
                    continue
                try:
                    loaded = await self._desks.of(row.request).reopen(row)
                except (ConfigError, OperationalError) as exc:
                    await self._fail_to_resume(row, str(exc))
                    continue
                except Exception as exc:  # a bug in one strategy must not keep the others down
                    logger.exception("could not resume strategy_id=%s", row.id)
                    await self._fail_to_resume(row, f"{type(exc).__name__}: {exc}")
                    continue
                if loaded is None:
                    continue  # paused by its desk, saying why
                loaded.loaded_at = read_at
                loaded.check_gap = True
                self.schedule(loaded)

    async def _keep_paused(self, row: StrategyRow, why: str) -> None:
        """Not resumed for something the operator can fix (e.g. a missing API key): paused with
        the reason, so a resume after the fix continues where it left off."""
        logger.warning("strategy_id=%s not resumed: %s", row.id, why)
        moved = await self._registry.strategies.transition(
            row.id, S.PAUSED, f"not resumed: {why}", action="pause", allowed_from={S.RUNNING}
        )
        self._registry.publish(moved)

    async def _fail_to_resume(self, row: StrategyRow, why: str) -> None:
        reason = f"could not resume: {why}"
        logger.error("strategy_id=%s %s", row.id, reason)
        moved = await self._registry.strategies.transition(
            row.id, S.ERROR, reason, action="fail", allowed_from={S.RUNNING}
        )
        self._registry.publish(moved)

    # ------------------------------------------------------------------ scheduling

    def schedule(self, loaded: LoadedStrategy) -> None:
        sid = loaded.strategy_id
        spec = replay_spec(loaded.row)
        if spec is None:
            self.scheduler.every(sid, loaded.interval_s, partial(self._on_live_slot, sid))
        elif spec.speed is None:
            self.scheduler.soon(sid, partial(self._on_replay_slot, sid))
        else:
            interval = loaded.interval_s / spec.speed
            self.scheduler.every(sid, interval, partial(self._on_replay_slot, sid))

    async def _on_live_slot(self, strategy_id: str, slot: int) -> None:
        """The job body of a live-data strategy: one call into the cycle boundary per slot."""
        async with self._registry.lock(strategy_id):
            loaded = self._registry.loaded.get(strategy_id)
            if loaded is None or not self.ownership.may_run(loaded, slot):
                return
            if loaded.check_gap:
                await self._record_gap(loaded, slot)
            loaded.check_gap = True
            await self.run_slot(loaded, slot)

    async def _on_replay_slot(self, strategy_id: str, _wall_ms: int) -> None:
        """The job body of a replay: the next simulated slot, then (back to back) the one after."""
        async with self._registry.lock(strategy_id):
            loaded = self._registry.loaded.get(strategy_id)
            if loaded is None or not self.ownership.may_run(loaded):
                return
            slot = loaded.next_replay_slot()
            if loaded.timeline is not None and loaded.timeline.finished(slot):
                await self._finish_replay(loaded)
                return
            await self.run_slot(loaded, slot)
            spec = replay_spec(loaded.row)
            back_to_back = loaded.running and spec is not None and spec.speed is None
        if back_to_back:
            self.scheduler.soon(strategy_id, partial(self._on_replay_slot, strategy_id))

    async def _record_gap(self, loaded: LoadedStrategy, slot: int) -> None:
        last, step = loaded.last_slot, slot_step_ms(loaded.interval_s)
        if last is None or slot - last <= step:
            return
        first, missed = last + step, (slot - last) // step - 1
        why = self.scheduler.take_missed(loaded.strategy_id) or (
            "the process was not running or its event loop was blocked"
        )
        reason = f"missed {missed} slot(s) from {_iso(first)} to {_iso(slot - step)}: {why}"
        try:
            result = await loaded.record_failure(first, CycleStatus.SKIPPED, reason)
        except SlotTaken:
            return  # that slot has a cycle after all; the gap is not worth a second row
        logger.warning("strategy_id=%s %s", loaded.strategy_id, reason)
        self._registry.publish(loaded.row, result)

    # ------------------------------------------------------------------ after a cycle

    async def run_slot(self, loaded: LoadedStrategy, slot: int | None) -> CycleOutcome:
        """One cycle through the boundary, then what its outcome means for the strategy."""
        outcome = await run_cycle(loaded, slot)
        if outcome.result is not None:
            self._registry.publish(loaded.row, outcome.result)
        verdict = status_after(outcome, loaded.recorder.consecutive_failures, self._max_failures)
        if verdict is not None:
            await self._registry.move(loaded, *verdict, action="fail", allowed=CAN_STOP)
        elif outcome.result is not None and outcome.failure is None:
            await self._check_risk(loaded, outcome.result)
        await self._spend_budget(loaded)
        return outcome

    async def _check_risk(self, loaded: LoadedStrategy, result: CycleResult) -> None:
        cfg = loaded.row.request.trading_config
        if cfg.max_drawdown_pct is None and cfg.daily_loss_limit is None:
            return
        day = day_start_ms(result.ts)
        if loaded.day is None or loaded.day[0] != day:
            before = await self._registry.cycles.equity_before(loaded.strategy_id, day)
            loaded.day = (day, cfg.initial_capital if before is None else before)
        reason = risk_stop_reason(
            cfg,
            equity=result.strategy_summary.equity,
            peak_equity=loaded.digest.peak_equity,
            day_start_equity=loaded.day[1],
        )
        if reason is None:
            return
        logger.warning("risk stop strategy_id=%s: %s", loaded.strategy_id, reason)
        if cfg.close_on_stop:
            outcome = await self.close_positions(loaded, None, reason)
            if outcome.failure is not None:
                reason = f"{reason}; closing positions failed: {outcome.failure.reason}"
        await self._registry.move(loaded, S.STOPPED, reason, action="stop", allowed=CAN_STOP)

    async def _finish_replay(self, loaded: LoadedStrategy) -> None:
        logger.info("replay finished strategy_id=%s", loaded.strategy_id)
        await self._registry.move(
            loaded, S.STOPPED, REPLAY_FINISHED, action="stop", allowed=CAN_STOP
        )

    async def _spend_budget(self, loaded: LoadedStrategy) -> None:
        budget = self._budgets.get(loaded.strategy_id)
        if budget is None:
            return
        left, total = budget[0] - 1, budget[1]
        self._budgets[loaded.strategy_id] = (left, total)
        if left <= 0 and loaded.running:
            del self._budgets[loaded.strategy_id]
            reason = f"max cycles reached ({total})"
            await self._registry.move(loaded, S.PAUSED, reason, action="pause", allowed={S.RUNNING})


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat()
