"""A strategy loaded into memory: its runtime wired to the store, rebuilt from the store.

``load_strategy`` restores the exact ledger from the latest stored cycle, folds the stored decision
cycles into the digest and replays the recent decisions into the coordinator, so a loaded strategy
continues exactly where the stored one stopped. ``LoadedStrategy`` is what the cycle boundary
drives (``CycleTarget``).

A live strategy that was started carries its ``LiveLink``: every cycle first takes over the fills
no stored cycle carries (an order that filled while its cycle's commit failed), and forced closes
go through ``close_own_positions`` (``LiveClose``) instead of the composer; a paper strategy's
forced close is one cycle decided by ``ClosePositionsComposer`` (``ComposedClose``). ``preview``
is the coordinator's dry run, leaving the portfolio and the replay clock as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeloop.services.close_report import close_report, signed_fills
from tradeloop.services.closing import ClosePositionsComposer
from tradeloop.services.live import (
    LiveLink,
    NotStartedGateway,
    ReconcileReport,
    SharedAccountGateway,
    close_own_positions,
    others_on_account,
    reconcile,
)
from tradeloop.services.models import ReplaySpec
from tradeloop.services.replay import ReplayLibrary, ReplayTimeline
from tradeloop.store.cycles import CycleStore
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
from tradeloop.trading.errors import OperationalError, PauseRequired
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    StrategyStatus,
    TradingMode,
    TxResult,
)
from tradeloop.trading.utils import new_compose_id

logger = logging.getLogger(__name__)


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
    live: LiveLink | None = None
    """Set when a live strategy was loaded to trade (started, resumed, closing positions)."""
    loaded_at: float = field(default_factory=time.monotonic)
    """When (monotonic) the store was read for this copy: a lease taken after it makes the copy
    stale (another replica may have run cycles meanwhile), see ``LeasedOwnership.may_run``."""

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

    async def run(self, slot_ts: int | None, composer: BaseComposer | None = None) -> CycleResult:
        """One cycle for ``slot_ts``, decided by ``composer`` when given (a forced close)."""
        if self.timeline is not None and slot_ts is not None:
            self.timeline.clock.set(slot_ts)
        try:
            if self.live is not None:
                report = await self.settle_with_venue()
                if report.pause_reason is not None:
                    raise PauseRequired(report.pause_reason)
            return await self.runtime.coordinator.run_once(slot_ts=slot_ts, composer=composer)
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

    def positions(self) -> dict[str, Decimal]:
        """Signed quantity per symbol in the ledger, exact."""
        return {s: p.quantity for s, p in self.portfolio.ledger.positions.items() if p.quantity}

    async def record_fills(
        self,
        compose_id: str,
        results: list[TxResult],
        rationale: str,
        raw: dict[str, Any] | None = None,
    ) -> CycleResult:
        """Apply live fills no decision cycle carries (a forced close, fills settled after the
        fact) and record them as one cycle; the cycle's commit marks their intents applied."""
        try:
            trades = await self.portfolio.apply_trades(results)
            view = await self.portfolio.get_view()
            result = CycleResult(
                compose_id=compose_id,
                strategy_id=self.strategy_id,
                ts=self.now_ms(),
                status=CycleStatus.OK,
                rationale=rationale,
                raw=raw,
                tx_results=results,
                trades=trades,
                portfolio=view,
                strategy_summary=summarize(view),
            )
            await self.recorder.record(result)
        except BaseException:
            await self.portfolio.reload()
            raise
        await self.digest.update(result)
        return result

    async def settle_with_venue(self) -> ReconcileReport:
        """Live, before anything is sent (a cycle, a close, a stop, a start or resume): settle
        every unresolved intent, take into the portfolio the fills no cycle recorded, and compare
        the positions with the venue's. The one way every order-sending path begins."""
        link = self.live
        if link is None:
            raise OperationalError(f"live strategy {self.strategy_id} has no venue connection")

        async def stored() -> dict[str, Decimal]:
            return self.positions()

        async def apply(fills: list[TxResult]) -> None:
            ids = ", ".join(f.client_order_id or f.instruction_id for f in fills)
            logger.warning(
                "strategy_id=%s taking over fills no cycle recorded: %s", self.strategy_id, ids
            )
            why = f"live fills of orders whose cycle was not recorded, taken over: {ids}"
            await self.record_fills(new_compose_id(), fills, why)

        async with link.lock:
            others = await others_on_account(
                link.gateway.intents, link.gateway.account, self.strategy_id
            )
            return await reconcile(
                link.gateway,
                symbols=self.row.request.trading_config.symbols,
                stored_positions=stored,
                apply_fills=apply,
                others_on_account=others,
            )

    async def close_live(self, symbols: Sequence[str] | None, why: str, prefix: str) -> CycleResult:
        """Close this strategy's own live positions (never more than the exchange holds on that
        side), recorded as a cycle whose ``raw["closing"]`` says per symbol what was closed and
        what was not. Settles with the venue first, so the positions closed are the ones really
        held. The compose id is ``{prefix}_{strategy}_{stored cycles}_{intents}``: new for every
        attempt; client order ids come from each order itself (``client_ids``), so a retry never
        gives one symbol's id to another."""
        if self.live is None:
            raise OperationalError(f"live strategy {self.strategy_id} has no venue connection")
        before = await self.settle_with_venue()
        # Unique per attempt: everything earlier is settled now (an order never placed is
        # NOT_FOUND, a fill is in the ledger), so a retry must get new client order ids.
        attempt = len(await self.live.gateway.intents.list_intents(self.strategy_id))
        compose_id = f"{prefix}_{self.strategy_id}_{await self.recorder.count()}_{attempt}"
        own = {s: q for s, q in self.positions().items() if symbols is None or s in symbols}
        async with self.live.lock:
            results = await close_own_positions(self.live.gateway, own, compose_id=compose_id)
            venue = await self.live.gateway.fetch_positions(sorted(own)) if own else {}
        fills = signed_fills(results)
        left = {s: q + fills.get(s, Decimal(0)) for s, q in own.items()}
        venue_own = {
            s: venue.get(s, Decimal(0)) - before.others.get(s, Decimal(0)) - before.outside(s)
            for s in own
        }
        lines = close_report(own, results, left, venue_own_left=venue_own)
        closed = ", ".join(sorted(own)) or "nothing (no open position)"
        raw = {
            "forced_close": sorted(own),
            "why": why,
            "closing": [line.model_dump() for line in lines],
        }
        return await self.record_fills(compose_id, results, f"{why}: closing {closed}", raw)

    def forced_close(self, symbols: Sequence[str] | None, why: str) -> LiveClose | ComposedClose:
        """A close of the strategy's own positions in ``symbols`` (None: all), for the cycle
        boundary: live ones through the venue (``close_live``), paper ones as a cycle decided by
        ``ClosePositionsComposer`` through guardrails and gateway."""
        if self.live is not None:
            return LiveClose(self, symbols, why, "stop" if symbols is None else "close")
        return ComposedClose(self, ClosePositionsComposer(symbols, why))

    async def preview(self) -> CycleResult:
        """The coordinator's dry run on the current state (a replay: at its next slot); the
        portfolio and the replay clock are left as they were."""
        ledger, view_ts = self.portfolio.ledger, (await self.portfolio.get_view()).ts
        before = self.now_ms()
        peek: AbstractContextManager[None] = nullcontext()
        if self.timeline is not None:
            self.timeline.clock.set(self.next_replay_slot())
            peek = self.timeline.source.peek()
        try:
            with peek:
                return await self.runtime.coordinator.dry_run()
        finally:
            self.portfolio.restore(ledger, view_ts)
            if self.timeline is not None:
                self.timeline.clock.set(before)

    def _ran(self, slot_ts: int | None) -> None:
        if slot_ts is not None and (self.last_slot is None or slot_ts > self.last_slot):
            self.last_slot = slot_ts


@dataclass
class ComposedClose:
    """A forced close of a paper strategy: one cycle decided by ``composer``."""

    loaded: LoadedStrategy
    composer: BaseComposer

    @property
    def strategy_id(self) -> str:
        return self.loaded.strategy_id

    async def run(self, slot_ts: int | None) -> CycleResult:
        return await self.loaded.run(slot_ts, self.composer)

    async def record_error(self, slot_ts: int | None, reason: str) -> CycleResult:
        return await self.loaded.record_error(slot_ts, reason)

    async def discard_unstored(self) -> None:
        await self.loaded.discard_unstored()


@dataclass
class LiveClose:
    """A forced close of a live strategy's own positions, as the cycle boundary drives it."""

    loaded: LoadedStrategy
    symbols: Sequence[str] | None
    why: str
    prefix: str

    @property
    def strategy_id(self) -> str:
        return self.loaded.strategy_id

    async def run(self, slot_ts: int | None) -> CycleResult:
        return await self.loaded.close_live(self.symbols, self.why, self.prefix)

    async def record_error(self, slot_ts: int | None, reason: str) -> CycleResult:
        return await self.loaded.record_error(slot_ts, reason)

    async def discard_unstored(self) -> None:
        await self.loaded.discard_unstored()


async def load_strategy(
    row: StrategyRow,
    *,
    agent: BaseStrategyAgent,
    cycles: CycleStore,
    replays: ReplayLibrary,
    clock: Clock,
    live: LiveLink | None = None,
) -> LoadedStrategy:
    """Build the runtime of ``row`` from the store; raises ``ConfigError`` if it cannot run.

    A live strategy trades through ``live`` when given; without it, its gateway refuses orders."""
    request = row.request
    timeline = None
    if row.replay is not None:
        timeline = replays.timeline(ReplaySpec.model_validate(row.replay), request)
        if row.last_slot_ts is not None:
            timeline.clock.set(row.last_slot_ts)
    portfolio = await SqlitePortfolioService.load(cycles, row.id, request, opened_ts=row.created_at)
    digest = await SqliteDigestBuilder.load(cycles, row.id, request)
    recorder = SqliteHistoryRecorder(cycles, row.id, portfolio)
    recorder.consecutive_failures = row.consecutive_failures
    components = Components(
        market_data=timeline.source if timeline else None,
        portfolio=portfolio,
        recorder=recorder,
        digest=digest,
        clock=timeline.clock if timeline else clock,
        gateway=_gateway(row, live),
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
        live=live,
    )


def _gateway(row: StrategyRow, live: LiveLink | None) -> BaseExecutionGateway | None:
    if live is not None:
        return SharedAccountGateway(live)
    if row.request.exchange_config.trading_mode is TradingMode.LIVE:
        return NotStartedGateway(row.id)
    return None  # paper: the runtime's default
