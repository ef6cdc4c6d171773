"""StrategyService: the lifecycle and history API the MCP tools and ``tradeloop run`` call.

It owns the store and the scheduler and hands each job to its room::

    async with StrategyService.open(settings) as svc:   # resumes every strategy stored as running
        info = await svc.create(request, name="btc-rsi")
        await svc.start(info.strategy_id)

    registry.py    loaded strategies, their locks, status moves, events (``subscribe``)
    slots/         scheduling, gaps, the cycle boundary, risk stops, budgets; who runs which slot
    desk.py        paper or live, chosen once per strategy; live_desk.py: gate, capital,
                   connection and reconciliation of live strategies
    queries.py     reads and pages
    changes.py     what ``update`` may change; stopping.py: stop, closing positions first

Statuses: created -> running <-> paused; any but stopped -> stopped; a failing cycle may move a
running strategy to error; start works from created, stopped and error. Every method that changes
a strategy waits for its cycle in flight (one lock per strategy) and changes nothing when it
raises. Unknown ids raise ``NotFound``, a status that does not allow the action
``InvalidTransition`` (both ``ConfigError``s, naming the id or the status). Live strategies need
the operator setting and, to be created or started, an ``approval`` made by ``live_gate`` for
exactly that request (see ``live_desk``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from tradeloop.backtest.store import store_run, stored_reason
from tradeloop.scheduler.jobs import StrategyScheduler
from tradeloop.services.changes import check_change
from tradeloop.services.desk import Desks, PaperDesk
from tradeloop.services.limits import admission, check_create, check_start
from tradeloop.services.live_desk import LiveDesk
from tradeloop.services.live_gate import LiveApproval, LiveGate
from tradeloop.services.llm_keys import require_llm_key
from tradeloop.services.models import ReplaySpec, StrategyInfo
from tradeloop.services.principals import OWNER_NAME
from tradeloop.services.queries import StrategyQueries
from tradeloop.services.registry import StrategyRegistry
from tradeloop.services.slots.leases import LeaseKeeper
from tradeloop.services.slots.relay import Relayed
from tradeloop.services.slots.runner import REPLAY_FINISHED, SlotRunner
from tradeloop.services.stopping import StopOutcome, stop_strategy
from tradeloop.settings import Settings
from tradeloop.store.backend import Store, open_store
from tradeloop.store.strategies import check_allowed
from tradeloop.trading.base_agent import BaseStrategyAgent, DefaultStrategyAgent
from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.errors import ConfigError, OperationalError
from tradeloop.trading.models import (
    CycleResult,
    StrategyStatus,
    UserRequest,
)
from tradeloop.trading.utils import new_id, normalize_symbol

if TYPE_CHECKING:
    from tradeloop.backtest.runner import BacktestRun

__all__ = ["REPLAY_FINISHED", "StopOutcome", "StrategyService"]
STOP_OUTCOME = TypeAdapter(StopOutcome)
CYCLE = TypeAdapter(CycleResult)

logger = logging.getLogger(__name__)
S = StrategyStatus
READINESS_PROBE_S = 1.0
"""How long ``readiness`` waits for the database (probes time out after 1 s by default)."""
CAN_START = frozenset({S.CREATED, S.STOPPED, S.ERROR})


class StrategyService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        agents: Mapping[str, BaseStrategyAgent],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self._strategies = store.strategies
        cycles = store.cycles
        self.scheduler = StrategyScheduler(misfire_grace_s=settings.misfire_grace_s, clock=clock)
        self.live_gate = LiveGate(enabled=settings.live_trading_enabled, clock=clock)
        """Makes and checks live approvals; its operator setting is fixed (``settings``)."""
        self.registry = StrategyRegistry(
            self._strategies, cycles, self.scheduler, agents=agents, clock=clock
        )
        live = LiveDesk(self.registry, settings, self.live_gate, store.intents, clock)
        self.desks = Desks(PaperDesk(self.registry, settings), live)
        self.leases = LeaseKeeper.for_store(
            store,
            self.registry,
            ttl_s=settings.lease_ttl_s,
            command_wait_s=settings.command_wait_s,
        )
        """Replicas on one PostgreSQL database share the running strategies by leases; a cycle
        on demand asked of one goes to the replica running the strategy (``slots.relay``)."""
        # cycles on demand need the strategy's ledger: they run on the replica running it
        self._run_now = Relayed(
            "run_cycle_now", lambda sid, _: self._run_cycle_now_here(sid), CYCLE, self.leases
        )
        self._close_now = Relayed(
            "close_position",
            lambda sid, args: self._close_position_here(sid, args["symbol"]),
            CYCLE,
            self.leases,
        )
        self._stop_closing = Relayed(
            "stop",
            lambda sid, args: self._stop_here(sid, args["close_positions"]),
            STOP_OUTCOME,
            self.leases,
        )
        self.slots = SlotRunner(
            self.registry,
            self.scheduler,
            self.desks,
            max_consecutive_failures=settings.max_consecutive_failures,
            ownership=self.leases.ownership,
        )
        self.leases.bind(self.slots)
        self.queries = StrategyQueries(
            self._strategies, cycles, self.scheduler, self.registry.loaded, self.leases.leases_of
        )
        # Reads are the queries room's methods and events the registry's, under the names the
        # tools call: get, list, find, get_portfolio, get_digest, list_trades, list_cycles,
        # get_cycle, chart_rows, and the ownership checks require, require_cycle; subscribe,
        # unsubscribe.
        q = self.queries
        self.require, self.require_cycle = q.require, q.require_cycle
        self.get, self.list, self.find, self.get_cycle = q.get, q.list, q.find, q.get_cycle
        self.get_portfolio, self.get_digest = q.get_portfolio, q.get_digest
        self.list_trades, self.list_cycles = q.list_trades, q.list_cycles
        self.chart_rows = q.chart_rows
        self.subscribe, self.unsubscribe = self.registry.subscribe, self.registry.unsubscribe

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        agents: Mapping[str, BaseStrategyAgent] | None = None,
        clock: Clock | None = None,
        resume: bool = True,
    ) -> AsyncIterator[StrategyService]:
        """Open the store, resume the strategies stored as running (unless ``resume`` is False:
        the store only, e.g. to import a backtest), run the scheduler; on exit let cycles in
        flight finish (``shutdown_grace_s``), then close everything."""
        url = None if settings.db_url is None else settings.db_url.get_secret_value()
        async with open_store(settings.db_path, url) as store:
            service = cls(
                settings,
                store,
                agents=agents or {"default": DefaultStrategyAgent()},
                clock=clock or SystemClock(),
            )
            try:
                service.scheduler.start()
                if resume:
                    await service.leases.start()
                    await service._resume_all()
                yield service
            finally:
                await service.leases.stop()
                await service._close()

    # ------------------------------------------------------------------ lifecycle

    async def create(
        self,
        request: UserRequest,
        *,
        name: str | None = None,
        agent_kind: str = "default",
        replay: ReplaySpec | str | Path | None = None,
        approval: LiveApproval | None = None,
        owner: str = OWNER_NAME,
    ) -> StrategyInfo:
        """Store a new strategy (status created) belonging to ``owner``. ``replay`` None: the
        server's ``replay_dir`` if set, else live market data. Raises ConfigError for what cannot
        run (unknown agent kind, missing replay data). Live: ``initial_capital`` is capped by the
        account (``LiveDesk``)."""
        strategy_id = new_id("s")
        require_llm_key(request)
        await check_create(self.store.limits, owner, request)
        request, spec = await self.desks.of(request).prepare(
            request,
            strategy_id=strategy_id,
            agent_kind=agent_kind,
            replay=replay,
            approval=approval,
        )
        row = await self._strategies.insert(
            strategy_id=strategy_id,
            name=name or request.trading_config.strategy_name or strategy_id,
            agent_kind=agent_kind,
            request=request,
            replay=None if spec is None else spec.model_dump(),
            owner=owner,
            admit=admission(request),
        )
        logger.info("created strategy_id=%s name=%s", row.id, row.name)
        return await self.queries.info(row)

    async def start(
        self, strategy_id: str, *, approval: LiveApproval | None = None
    ) -> StrategyInfo:
        """created, stopped or error -> running, scheduled from the next slot. Live: needs an
        ``approval`` for this strategy; reconciled first, paused with the reason on a mismatch."""
        return await self._run(strategy_id, approval, action="start", allowed=CAN_START)

    async def resume(self, strategy_id: str) -> StrategyInfo:
        """paused -> running. Live: the operator setting is checked again and the strategy is
        reconciled first; on a mismatch it stays paused with the new reason."""
        return await self._run(strategy_id, None, action="resume", allowed=frozenset({S.PAUSED}))

    async def _run(
        self,
        strategy_id: str,
        approval: LiveApproval | None,
        *,
        action: str,
        allowed: frozenset[StrategyStatus],
    ) -> StrategyInfo:
        async with self.registry.lock(strategy_id):
            row = await self._strategies.require(strategy_id)
            check_allowed(row.id, row.status, action, allowed)
            await check_start(self.store.limits, row, action=action)
            require_llm_key(row.request)
            desk = self.desks.of(row.request)
            loaded, pause = await desk.open(row, approval, resume=action == "resume")
            await self.slots.begin(loaded, pause, action=action, allowed=allowed)
        return await self.get(strategy_id)

    async def pause(self, strategy_id: str, *, reason: str | None = None) -> StrategyInfo:
        """running -> paused; the cycle in flight finishes first."""
        owner = await self.leases.owner_of(strategy_id)
        async with self.registry.lock(strategy_id):
            await self.registry.transition(
                strategy_id, S.PAUSED, reason, action="pause", allowed={S.RUNNING}
            )
        if owner is not None:  # another replica ran it: answer once it let go
            await self.leases.let_go(strategy_id, owner)
        return await self.get(strategy_id)

    async def stop(self, strategy_id: str, close_positions: bool = False) -> StrategyInfo:
        """-> stopped (see ``stop_closing``, which also says what each close did)."""
        return (await self.stop_closing(strategy_id, close_positions)).info

    async def stop_closing(self, strategy_id: str, close_positions: bool = False) -> StopOutcome:
        """-> stopped; with ``close_positions`` only once the strategy's own positions are closed
        (see ``stopping``; otherwise it stays paused saying which symbol was not and why)."""
        if close_positions:  # closing needs the strategy's ledger: its owner stops it
            return await self._stop_closing(strategy_id, close_positions=True)
        owner = await self.leases.owner_of(strategy_id)
        outcome = await self._stop_here(strategy_id, close_positions=False)
        if owner is not None:  # another replica ran it: answer once it let go
            await self.leases.let_go(strategy_id, owner)
            return StopOutcome(await self.get(strategy_id), outcome.closing)
        return outcome

    async def _stop_here(self, strategy_id: str, close_positions: bool) -> StopOutcome:
        async with self.registry.lock(strategy_id):
            if close_positions:
                await self.leases.before_command(strategy_id)
            paused, closing = await stop_strategy(
                strategy_id, close_positions, self.registry, self.desks, self.slots
            )
            if paused is not None:
                return StopOutcome(await self.queries.info(paused), closing)
        return StopOutcome(await self.get(strategy_id), closing)

    async def delete(self, strategy_id: str) -> None:
        """Delete a stopped strategy with its whole history."""
        async with self.registry.lock(strategy_id):
            await self._strategies.delete(strategy_id, allowed_from={S.STOPPED})
            await self.registry.unload(strategy_id)
        self.registry.forget(strategy_id)
        self.queries.forget(strategy_id)
        logger.info("deleted strategy_id=%s", strategy_id)

    async def update(self, strategy_id: str, **changes: Any) -> StrategyInfo:
        """Change ``name`` or TradingConfig fields (interval, prompts, limits, ...); validated
        like a new config. A running strategy uses the new config from its next cycle."""
        async with self.registry.lock(strategy_id):
            row = await self._strategies.require(strategy_id)
            name = changes.pop("name", None)
            desk = self.desks.of(row.request)
            request = check_change(row, changes, desk, self.registry.replays)
            if name is not None and name != row.name:
                row = await self._strategies.rename(strategy_id, name)
            if request != row.request:
                row = await self._strategies.set_request(strategy_id, request)
                await self.slots.reload(row)
        return await self.get(strategy_id)

    async def import_backtest(self, run: BacktestRun, *, owner: str = OWNER_NAME) -> StrategyInfo:
        """Store a finished backtest run (started with ``storable=True``) as a stopped strategy
        with ``agent_kind='backtest'`` under its run id, every cycle in one transaction. Its
        history and digest then read like any strategy's; it can never be started or run.
        Raises ConfigError when the run has nothing to store or its id is taken."""
        await store_run(
            self.store,
            owner=owner,
            run_id=run.run_id,
            request=run.request,
            cycles=run.take_cycles_to_store(),
            reason=stored_reason(run.status, run.stop_reason),
        )
        return await self.get(run.run_id)

    async def limit_cycles(self, strategy_id: str, cycles: int | None) -> None:
        """Pause the strategy after ``cycles`` more cycles (None: no limit)."""
        await self._strategies.require(strategy_id)
        self.slots.limit(strategy_id, cycles)

    # ------------------------------------------------------------------ cycles on demand

    async def run_cycle_now(self, strategy_id: str) -> CycleResult:
        """Run one cycle now (a replay steps to its next slot) and return what was stored; on
        the replica running the strategy when another one does."""
        return await self._run_now(strategy_id)

    async def _run_cycle_now_here(self, strategy_id: str) -> CycleResult:
        async with self.registry.lock(strategy_id):
            row = await self._strategies.require(strategy_id)
            run_from = self.desks.of(row.request).run_now_from
            check_allowed(row.id, row.status, "run a cycle of", run_from)
            require_llm_key(row.request)
            await self.leases.before_command(strategy_id)
            outcome = await self.slots.run_now(await self.registry.load(row))
        return _stored(outcome.result, strategy_id)

    async def preview_decision(self, strategy_id: str) -> CycleResult:
        """Context, composer and guardrails on the current state (a replay: at its next slot).
        Nothing is executed or stored; the result has no fills."""
        async with self.registry.lock(strategy_id):
            loaded = await self.registry.load(await self._strategies.require(strategy_id))
            return await loaded.preview()

    async def close_position(self, strategy_id: str, symbol: str) -> CycleResult:
        """Close the strategy's own position in ``symbol`` now, recorded as a cycle; on the
        replica running the strategy when another one does."""
        try:
            symbol = normalize_symbol(symbol)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return await self._close_now(strategy_id, symbol=symbol)

    async def _close_position_here(self, strategy_id: str, symbol: str) -> CycleResult:
        async with self.registry.lock(strategy_id):
            row = await self._strategies.require(strategy_id)
            await self.leases.before_command(strategy_id)
            loaded = await self.desks.of(row.request).for_closing(row)
            if symbol not in (await loaded.portfolio.get_view()).positions:
                raise ConfigError(f"strategy {strategy_id} has no open {symbol} position")
            why = f"close {symbol} by request"
            outcome = await self.slots.close_positions(loaded, [symbol], why)
        return _stored(outcome.result, strategy_id)

    # ------------------------------------------------------------------ open and close

    async def _resume_all(self) -> None:
        await self.slots.resume_all()

    async def readiness(self) -> str | None:
        """None when this process can serve and run strategies (its database answers and, on a
        shared database, its leases renew); else why not (``/readyz``). Answers within
        ``READINESS_PROBE_S``: a database cut off by a stalled network never answers, and a
        probe that hangs with it tells a load balancer nothing."""
        if not self.leases.renewing:
            return "leases not renewing"
        try:
            async with asyncio.timeout(READINESS_PROBE_S):
                await self.store.rows.fetchone("SELECT 1")
        except TimeoutError:
            return f"database unreachable (no answer within {READINESS_PROBE_S:g} s)"
        except Exception as exc:
            return f"database unreachable ({type(exc).__name__})"
        return None

    async def _close(self) -> None:
        """Scheduled cycles first, then cycles run on demand, get the grace to finish."""
        grace = self.settings.shutdown_grace_s
        await self.scheduler.shutdown(grace)
        await self.registry.close(grace)


def _stored(result: CycleResult | None, strategy_id: str) -> CycleResult:
    if result is None:
        raise OperationalError(f"strategy {strategy_id}: the cycle could not be recorded")
    return result
