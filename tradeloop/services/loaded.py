"""A strategy loaded into memory: its runtime wired to the store, rebuilt from the store.

``load_strategy`` restores the exact ledger from the latest stored cycle, folds the stored decision
cycles into the digest and replays the recent decisions into the coordinator, so a loaded strategy
continues exactly where the stored one stopped. ``LoadedStrategy`` is what the cycle boundary
drives (``CycleTarget``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tradeloop.services.models import ReplaySpec
from tradeloop.services.replay import ReplayLibrary, ReplayTimeline
from tradeloop.store.cycles import CycleRepository
from tradeloop.store.sqlite_digest import SqliteDigestBuilder
from tradeloop.store.sqlite_portfolio import SqlitePortfolioService
from tradeloop.store.sqlite_recorder import SqliteHistoryRecorder
from tradeloop.store.strategies import StrategyRow
from tradeloop.testing import crashpoints
from tradeloop.trading._internal.coordinator import RECENT_DECISIONS, summarize
from tradeloop.trading._internal.runtime import Components, StrategyRuntime
from tradeloop.trading.base_agent import BaseStrategyAgent
from tradeloop.trading.clock import Clock
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.models import CycleResult, CycleStatus, StrategyStatus
from tradeloop.trading.utils import new_compose_id


@dataclass
class LoadedStrategy:
    row: StrategyRow
    runtime: StrategyRuntime
    portfolio: SqlitePortfolioService
    recorder: SqliteHistoryRecorder
    digest: SqliteDigestBuilder
    timeline: ReplayTimeline | None
    last_slot: int | None
    check_gap: bool = False
    """Record the slots between the last stored one and the next as missed (set when resumed
    after a restart; an explicit start or resume begins afresh)."""
    day: tuple[int, float] | None = None
    """(start of the current UTC day, equity then), for the daily loss limit."""

    @property
    def strategy_id(self) -> str:
        return self.row.id

    @property
    def running(self) -> bool:
        return self.row.status is StrategyStatus.RUNNING

    @property
    def interval_s(self) -> int:
        return self.row.request.trading_config.decide_interval

    def next_replay_slot(self) -> int:
        assert self.timeline is not None
        return self.timeline.next_slot(self.last_slot, self.interval_s)

    def now_ms(self) -> int:
        return self.runtime.clock.now_ms()

    # ------------------------------------------------------------------ CycleTarget

    async def run(self, slot_ts: int | None) -> CycleResult:
        if self.timeline is not None and slot_ts is not None:
            self.timeline.clock.set(slot_ts)
        try:
            return await self.runtime.coordinator.run_once(slot_ts=slot_ts)
        finally:
            self._ran(slot_ts)

    async def record_error(self, slot_ts: int | None, reason: str) -> CycleResult:
        return await self.record_failure(slot_ts, CycleStatus.ERROR, reason)

    async def discard_unstored(self) -> None:
        await self.portfolio.reload()

    # ------------------------------------------------------------------ helpers

    async def record_failure(
        self, slot_ts: int | None, status: CycleStatus, reason: str
    ) -> CycleResult:
        """Record a cycle that did not decide, with the portfolio as stored."""
        await self.portfolio.reload()
        view = await self.portfolio.get_view()
        result = CycleResult(
            compose_id=new_compose_id(),
            strategy_id=self.strategy_id,
            ts=self.now_ms(),
            slot_ts=slot_ts,
            status=status,
            reason=reason,
            portfolio=view,
            strategy_summary=summarize(view),
        )
        await self.recorder.record_failure(result)
        self._ran(slot_ts)
        return result

    @contextmanager
    def composer(self, composer: BaseComposer) -> Iterator[None]:
        """Decide with ``composer`` for the cycles run inside the block (forced closes)."""
        coordinator = self.runtime.coordinator
        original = coordinator.composer
        coordinator.composer = composer
        try:
            yield
        finally:
            coordinator.composer = original

    def _ran(self, slot_ts: int | None) -> None:
        if slot_ts is not None and (self.last_slot is None or slot_ts > self.last_slot):
            self.last_slot = slot_ts


async def load_strategy(
    row: StrategyRow,
    *,
    agent: BaseStrategyAgent,
    cycles: CycleRepository,
    replays: ReplayLibrary,
    clock: Clock,
) -> LoadedStrategy:
    """Build the runtime of ``row`` from the store; raises ``ConfigError`` if it cannot run."""
    request = row.request
    timeline = None
    if row.replay is not None:
        timeline = replays.timeline(ReplaySpec.model_validate(row.replay), request)
        if row.last_slot_ts is not None:
            timeline.clock.set(row.last_slot_ts)
    portfolio = await SqlitePortfolioService.load(cycles, row.id, request)
    digest = await SqliteDigestBuilder.load(cycles, row.id, request)
    recorder = SqliteHistoryRecorder(cycles, row.id, portfolio)
    recorder.consecutive_failures = row.consecutive_failures
    components = Components(
        market_data=timeline.source if timeline else None,
        portfolio=portfolio,
        recorder=recorder,
        digest=digest,
        clock=timeline.clock if timeline else clock,
    )
    runtime = await agent.create_runtime(request, strategy_id=row.id, components=components)
    if crashpoints.armed():
        crashpoints.install(runtime.coordinator)
    for result in await cycles.recent_decisions(row.id, RECENT_DECISIONS):
        runtime.coordinator.remember(result)
    return LoadedStrategy(
        row=row,
        runtime=runtime,
        portfolio=portfolio,
        recorder=recorder,
        digest=digest,
        timeline=timeline,
        last_slot=row.last_slot_ts,
    )
