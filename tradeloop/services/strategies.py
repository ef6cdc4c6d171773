"""StrategyService: the lifecycle and history API the MCP tools and ``tradeloop run`` call.

It owns the store, the loaded strategies and the scheduler::

    async with StrategyService.open(settings) as svc:   # resumes every strategy stored as running
        info = await svc.create(request, name="btc-rsi")
        await svc.start(info.strategy_id)

Statuses: created -> running <-> paused; any but stopped -> stopped; a failing cycle may move a
running strategy to error; start works from created, stopped and error. Every method that changes
a strategy waits for its cycle in flight (one lock per strategy) and changes nothing when it
raises. Unknown ids raise ``NotFound``, a status that does not allow the action
``InvalidTransition`` (both ``ConfigError``s, naming the id or the status).

Live strategies (``trading_mode='live'``) need the operator setting (``live_trading_enabled``) and,
to be created or started, an ``approval`` made by this service's ``live_gate`` for exactly that
request (``LiveTradingDisabled`` / ``ConfirmationError`` otherwise, before anything reaches the
venue). Created: the initial capital is the account's available cash less the cash of the other
live strategies on the account (refused when nothing is left). Started, resumed, or resumed
at open (``approve_resume``: the operator setting only): reconciled first; a mismatch pauses the
strategy with the reason. Their forced closes close only their own positions (``close_live``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tradeloop.backtest.store import BACKTEST_AGENT_KIND, store_run, stored_reason
from tradeloop.scheduler.boundary import CycleOutcome, run_cycle, status_after
from tradeloop.scheduler.jobs import StrategyScheduler
from tradeloop.scheduler.risk import day_start_ms, risk_stop_reason
from tradeloop.services.close_report import SymbolClose, close_report, why_not_done
from tradeloop.services.closing import ClosePositionsComposer
from tradeloop.services.live import (
    LiveLink,
    account_of,
    market_constraints,
    open_live_gateway,
    quote_currency,
    with_live_capital,
)
from tradeloop.services.live_gate import (
    Action,
    ConfirmationMissing,
    LiveApproval,
    LiveGate,
    LiveTradingDisabled,
    live_params,
)
from tradeloop.services.llm_keys import missing_llm_key, require_llm_key
from tradeloop.services.loaded import LiveClose, LoadedStrategy, load_strategy
from tradeloop.services.models import (
    CyclePage,
    ReplaySpec,
    ServiceEvent,
    StrategyInfo,
    TradePage,
)
from tradeloop.services.replay import ReplayLibrary
from tradeloop.settings import Settings
from tradeloop.store.cycles import CycleRepository, PageCursor
from tradeloop.store.db import Database, ProcessLock, SlotTaken
from tradeloop.store.intents import SqliteIntentStore
from tradeloop.store.sqlite_digest import FoldedDigest, fold_stored
from tradeloop.store.sqlite_portfolio import SqlitePortfolioService
from tradeloop.store.strategies import StrategyRepository, StrategyRow, check_allowed
from tradeloop.trading import crashpoints
from tradeloop.trading._internal.coordinator import summarize
from tradeloop.trading.base_agent import BaseStrategyAgent, DefaultStrategyAgent
from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.decision.guardrails import GuardResult
from tradeloop.trading.errors import ConfigError, NotFound, OperationalError, TemporaryError
from tradeloop.trading.history.digest import to_digest
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    CycleResult,
    CycleStatus,
    PortfolioView,
    StrategyStatus,
    TradeDigest,
    TradingConfig,
    TradingMode,
    UserRequest,
)
from tradeloop.trading.utils import new_id, normalize_symbol, to_decimal

if TYPE_CHECKING:
    from tradeloop.backtest.runner import BacktestRun

logger = logging.getLogger(__name__)

S = StrategyStatus
CAN_START = frozenset({S.CREATED, S.STOPPED, S.ERROR})
CAN_STOP = frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.ERROR})
STOPPING = "stopping: closing positions (stop again if this stays: it was interrupted)"
CAN_RUN_NOW = frozenset({S.CREATED, S.RUNNING, S.PAUSED})
FIXED_FIELDS = frozenset({"initial_capital", "symbols"})
"""The ledger was opened with them; changing them would rewrite history."""
UPDATABLE_FIELDS = frozenset(TradingConfig.model_fields) - FIXED_FIELDS
REPLAY_FINISHED = "replay finished"
CRASH_BEFORE_STOPPED = "before_stopped"
"""Crash point: the close cycle is committed, the strategy not yet stopped."""
MAX_PAGE = 500


class StrategyService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        agents: Mapping[str, BaseStrategyAgent],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self._db = db
        self._strategies = StrategyRepository(db)
        self._cycles = CycleRepository(db)
        self._agents = dict(agents)
        self._clock = clock
        self._replays = ReplayLibrary()
        self._loaded: dict[str, LoadedStrategy] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._budgets: dict[str, tuple[int, int]] = {}
        self._digests: dict[str, FoldedDigest] = {}
        """Digest folds of strategies not loaded, continued with the cycles stored since."""
        self._subscribers: list[asyncio.Queue[ServiceEvent]] = []
        self.scheduler = StrategyScheduler(misfire_grace_s=settings.misfire_grace_s)
        self.live_gate = LiveGate(enabled=settings.live_trading_enabled, clock=clock)
        """Makes and checks live approvals; its operator setting is fixed (``settings``)."""
        self._intents = SqliteIntentStore(db)
        self._account_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

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
        with ProcessLock(settings.db_path):
            db = await Database.open(settings.db_path)
            service = cls(
                settings,
                db,
                agents=agents or {"default": DefaultStrategyAgent()},
                clock=clock or SystemClock(),
            )
            try:
                service.scheduler.start()
                if resume:
                    await service._resume_all()
                yield service
            finally:
                await service._close()
                await db.close()

    # ------------------------------------------------------------------ lifecycle

    async def create(
        self,
        request: UserRequest,
        *,
        name: str | None = None,
        agent_kind: str = "default",
        replay: ReplaySpec | str | Path | None = None,
        approval: LiveApproval | None = None,
    ) -> StrategyInfo:
        """Store a new strategy (status created). ``replay`` None: the server's ``replay_dir`` if
        set, else live market data. Raises ConfigError for what cannot run (unknown agent kind,
        missing replay data). Live: see the module docstring; ``initial_capital`` becomes the
        account's available cash of the symbols' quote currency that no other live strategy holds."""
        strategy_id = new_id("s")
        require_llm_key(request)
        if _is_live(request):
            self._check_live(request, replay, approval, "create")
            self._agent(agent_kind)
            spec = None
            request = await self._live_capital(request, approval, strategy_id)
        else:
            self._agent(agent_kind)
            spec = self._replay_spec(replay)
            if spec is not None:
                self._replays.timeline(spec, request)
        row = await self._strategies.insert(
            strategy_id=strategy_id,
            name=name or request.trading_config.strategy_name or strategy_id,
            agent_kind=agent_kind,
            request=request,
            replay=None if spec is None else spec.model_dump(),
        )
        logger.info("created strategy_id=%s name=%s", row.id, row.name)
        return await self._info(row)

    async def start(
        self, strategy_id: str, *, approval: LiveApproval | None = None
    ) -> StrategyInfo:
        """created, stopped or error -> running, scheduled from the next slot. Live: needs an
        ``approval`` for this strategy; reconciled first, paused with the reason on a mismatch."""
        async with self._locks[strategy_id]:
            row = await self._strategies.require(strategy_id)
            check_allowed(row.id, row.status, "start", CAN_START)
            require_llm_key(row.request)
            if _is_live(row.request):
                self._check_live(row.request, None, approval, "start", row.id)
                assert approval is not None  # checked
                await self._run_live(row, approval, action="start", allowed=CAN_START)
            else:
                loaded = await self._load(row)
                await self._move(loaded, S.RUNNING, None, action="start", allowed=CAN_START)
                self._schedule(loaded)
        return await self.get(strategy_id)

    async def pause(self, strategy_id: str, *, reason: str | None = None) -> StrategyInfo:
        """running -> paused; the cycle in flight finishes first."""
        async with self._locks[strategy_id]:
            row = await self._strategies.transition(
                strategy_id, S.PAUSED, reason, action="pause", allowed_from={S.RUNNING}
            )
            self._after_move(row)
        return await self.get(strategy_id)

    async def resume(self, strategy_id: str) -> StrategyInfo:
        """paused -> running. Live: the operator setting is checked again and the strategy is
        reconciled first; on a mismatch it stays paused with the new reason."""
        async with self._locks[strategy_id]:
            row = await self._strategies.require(strategy_id)
            check_allowed(row.id, row.status, "resume", {S.PAUSED})
            require_llm_key(row.request)
            if _is_live(row.request):
                approval = self.live_gate.approve_resume(live_params("start", row.request, row.id))
                await self._run_live(row, approval, action="resume", allowed={S.PAUSED})
            else:
                loaded = await self._load(row)
                await self._move(loaded, S.RUNNING, None, action="resume", allowed={S.PAUSED})
                self._schedule(loaded)
        return await self.get(strategy_id)

    async def stop(self, strategy_id: str, close_positions: bool = False) -> StrategyInfo:
        """-> stopped (see ``stop_closing``, which also says what each close did)."""
        return (await self.stop_closing(strategy_id, close_positions)).info

    async def stop_closing(self, strategy_id: str, close_positions: bool = False) -> StopOutcome:
        """-> stopped. With ``close_positions`` the strategy's own open positions are closed first
        (through guardrails and gateway, recorded as a cycle); nothing else is touched, and it
        is stopped only when every symbol is closed (live: the venue agrees); otherwise it stays
        paused saying which symbol was not closed and why (stop again to retry). Live: the
        closes are capped by what the exchange holds, so another strategy's or a human's
        position on the same account is never closed."""
        closing: list[SymbolClose] = []
        async with self._locks[strategy_id]:
            row = await self._strategies.require(strategy_id)
            check_allowed(row.id, row.status, "stop", CAN_STOP)
            self.scheduler.cancel(strategy_id)
            reason = "stopped by request"
            if close_positions:
                # Paused first, in its own commit: a crash while closing must not leave a
                # strategy the next start resumes and trades; stopping again finishes the job.
                row = await self._strategies.transition(
                    strategy_id, S.PAUSED, STOPPING, action="stop", allowed_from=CAN_STOP
                )
                self._after_move(row)
                loaded = await self._closing(row)
                held = loaded.positions()
                outcome = await self._close_positions(loaded, None, reason)
                closing = _closing_lines(outcome, held, loaded.positions())
                failed = why_not_done(closing)
                if outcome.failure is not None:
                    failed = f"stopping: closing positions failed: {outcome.failure.reason}"
                if failed is not None:
                    row = await self._strategies.transition(
                        strategy_id, S.PAUSED, failed, action="stop", allowed_from={S.PAUSED}
                    )
                    self._after_move(row)
                    return StopOutcome(await self._info(row), closing)
            crashpoints.crash_point(CRASH_BEFORE_STOPPED)
            row = await self._strategies.transition(
                strategy_id, S.STOPPED, reason, action="stop", allowed_from=CAN_STOP
            )
            self._after_move(row)
            await self._unload(strategy_id)
        return StopOutcome(await self.get(strategy_id), closing)

    async def delete(self, strategy_id: str) -> None:
        """Delete a stopped strategy with its whole history."""
        async with self._locks[strategy_id]:
            await self._strategies.delete(strategy_id, allowed_from={S.STOPPED})
            await self._unload(strategy_id)
        self._locks.pop(strategy_id, None)
        self._digests.pop(strategy_id, None)
        logger.info("deleted strategy_id=%s", strategy_id)

    async def update(self, strategy_id: str, **changes: Any) -> StrategyInfo:
        """Change ``name`` or TradingConfig fields (interval, prompts, limits, ...); validated
        like a new config. A running strategy uses the new config from its next cycle."""
        async with self._locks[strategy_id]:
            row = await self._strategies.require(strategy_id)
            name = changes.pop("name", None)
            if row.agent_kind == BACKTEST_AGENT_KIND and changes:
                raise ConfigError(
                    f"strategy {row.id} is a stored backtest: its config is the one it ran with "
                    "and cannot change (only name can); create_strategy with a new config instead"
                )
            _check_live_update(row, changes)
            request = _updated_request(row.request, changes)
            if row.request.trading_config.composer != request.trading_config.composer:
                require_llm_key(request)
            if request != row.request:
                self._check_replay_update(row, request, changes)
            if name is not None and name != row.name:
                row = await self._strategies.rename(strategy_id, name)
            if request != row.request:
                row = await self._strategies.set_request(strategy_id, request)
                await self._reload_if_loaded(row)
        return await self.get(strategy_id)

    async def import_backtest(self, run: BacktestRun) -> StrategyInfo:
        """Store a finished backtest run (started with ``storable=True``) as a stopped strategy
        with ``agent_kind='backtest'`` under its run id, every cycle in one transaction. Its
        history and digest then read like any strategy's; it can never be started or run.
        Raises ConfigError when the run has nothing to store or its id is taken."""
        await store_run(
            self._db,
            run_id=run.run_id,
            request=run.request,
            cycles=run.take_cycles_to_store(),
            reason=stored_reason(run.status, run.stop_reason),
        )
        return await self.get(run.run_id)

    def _check_replay_update(
        self, row: StrategyRow, request: UserRequest, changes: Mapping[str, Any]
    ) -> None:
        """A replay strategy's new config must run on its replay data, as create checks."""
        spec = _spec(row)
        if spec is None:
            return
        try:
            self._replays.timeline(spec, request)
        except ConfigError as exc:
            raise ConfigError(
                f"cannot update {', '.join(sorted(changes))} of replay strategy {row.id}: "
                f"its replay data in {spec.data_dir} cannot serve it: {exc}; nothing was changed"
            ) from exc

    async def limit_cycles(self, strategy_id: str, cycles: int | None) -> None:
        """Pause the strategy after ``cycles`` more cycles (None: no limit)."""
        await self._strategies.require(strategy_id)
        if cycles is None:
            self._budgets.pop(strategy_id, None)
        else:
            self._budgets[strategy_id] = (cycles, cycles)

    # ------------------------------------------------------------------ cycles on demand

    async def run_cycle_now(self, strategy_id: str) -> CycleResult:
        """Run one cycle now (a replay steps to its next slot) and return what was stored."""
        async with self._locks[strategy_id]:
            row = await self._strategies.require(strategy_id)
            check_allowed(
                row.id,
                row.status,
                "run a cycle of",
                {S.RUNNING} if _is_live(row.request) else CAN_RUN_NOW,
            )
            require_llm_key(row.request)
            loaded = await self._load(row)
            if loaded.timeline is not None:
                slot = loaded.next_replay_slot()
                if loaded.timeline.finished(slot):
                    await self._finish_replay(loaded)
                    raise ConfigError(f"strategy {strategy_id}: {REPLAY_FINISHED}, no data left")
            else:
                slot = loaded.now_ms()
            outcome = await self._run_slot(loaded, slot)
        return _stored(outcome, strategy_id)

    async def preview_decision(self, strategy_id: str) -> CycleResult:
        """Context, composer and guardrails on the current state (a replay: at its next slot).
        Nothing is executed or stored; the result has no fills."""
        async with self._locks[strategy_id]:
            loaded = await self._load(await self._strategies.require(strategy_id))
            coordinator = loaded.runtime.coordinator
            ledger, view_ts = loaded.portfolio.ledger, (await loaded.portfolio.get_view()).ts
            before = loaded.now_ms()
            peek: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if loaded.timeline is not None:
                loaded.timeline.clock.set(loaded.next_replay_slot())
                peek = loaded.timeline.source.peek()
            try:
                with peek:
                    context = await coordinator.build_context()
                    proposal = await coordinator.composer.compose(context)
                    guarded = coordinator.guard(proposal, context)
            finally:
                loaded.portfolio.restore(ledger, view_ts)
                if loaded.timeline is not None:
                    loaded.timeline.clock.set(before)
        return _preview_result(context, proposal, guarded)

    async def close_position(self, strategy_id: str, symbol: str) -> CycleResult:
        """Close the strategy's own position in ``symbol`` now, recorded as a cycle."""
        try:
            symbol = normalize_symbol(symbol)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        async with self._locks[strategy_id]:
            loaded = await self._closing(await self._strategies.require(strategy_id))
            if symbol not in (await loaded.portfolio.get_view()).positions:
                raise ConfigError(f"strategy {strategy_id} has no open {symbol} position")
            outcome = await self._close_positions(loaded, [symbol], f"close {symbol} by request")
        return _stored(outcome, strategy_id)

    # ------------------------------------------------------------------ reads

    async def get(self, strategy_id: str) -> StrategyInfo:
        return await self._info(await self._strategies.require(strategy_id))

    async def list(self, status: StrategyStatus | None = None) -> list[StrategyInfo]:
        return [await self._info(row) for row in await self._strategies.all(status)]

    async def find(self, name: str) -> StrategyInfo | None:
        row = await self._strategies.by_name(name)
        return None if row is None else await self._info(row)

    async def get_portfolio(self, strategy_id: str) -> PortfolioView:
        """The portfolio as stored after the latest cycle."""
        row = await self._strategies.require(strategy_id)
        portfolio = await SqlitePortfolioService.load(
            self._cycles, row.id, row.request, opened_ts=row.created_at
        )
        return await portfolio.get_view()

    async def get_digest(self, strategy_id: str) -> TradeDigest:
        """Before the first cycle the digest is as of the strategy's creation (never epoch 0)."""
        loaded = self._loaded.get(strategy_id)
        if loaded is not None:
            row, digest = loaded.row, await loaded.digest.build()
        else:
            row = await self._strategies.require(strategy_id)
            folded = await fold_stored(self._cycles, row.id, row.request, self._digests.get(row.id))
            self._digests[row.id] = folded
            digest = to_digest(folded.state)
        return digest if digest.ts else digest.model_copy(update={"ts": row.created_at})

    async def list_trades(
        self,
        strategy_id: str,
        cursor: str | None = None,
        limit: int = 50,
        symbol: str | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        newest_first: bool = False,
    ) -> TradePage:
        await self._strategies.require(strategy_id)
        page = _page_cursor(cursor, limit, newest_first)
        rows = await self._cycles.trade_page(
            strategy_id,
            page,
            symbol=_symbol_filter(symbol),
            since_ms=since_ms,
            until_ms=until_ms,
        )
        items, next_cursor = _split_page(rows, limit, key=lambda r: r[0])
        return TradePage(items=[trade for _, trade in items], next_cursor=next_cursor)

    async def list_cycles(
        self,
        strategy_id: str,
        cursor: str | None = None,
        limit: int = 50,
        status: CycleStatus | None = None,
        *,
        symbol: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        newest_first: bool = False,
    ) -> CyclePage:
        await self._strategies.require(strategy_id)
        page = _page_cursor(cursor, limit, newest_first)
        rows = await self._cycles.page(
            strategy_id,
            page,
            status=status,
            symbol=_symbol_filter(symbol),
            since_ms=since_ms,
            until_ms=until_ms,
        )
        items, next_cursor = _split_page(rows, limit, key=lambda r: r.cycle_id)
        return CyclePage(items=items, next_cursor=next_cursor)

    async def get_cycle(self, compose_id: str) -> CycleResult:
        result = await self._cycles.get(compose_id)
        if result is None:
            raise NotFound(f"no cycle with compose_id {compose_id!r}")
        return result

    def subscribe(self) -> asyncio.Queue[ServiceEvent]:
        """A queue that receives an event after every stored cycle and every status change."""
        queue: asyncio.Queue[ServiceEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ServiceEvent]) -> None:
        """Stop delivering events to a queue from ``subscribe`` (a closed dashboard stream)."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    async def chart_rows(self, strategy_id: str) -> Sequence[tuple[int, float, str]]:
        """Every cycle's (ts, equity, features JSON), oldest first, for the dashboard's charts."""
        await self._strategies.require(strategy_id)
        return await self._cycles.chart_rows(strategy_id)

    # ------------------------------------------------------------------ scheduling

    def _schedule(self, loaded: LoadedStrategy) -> None:
        sid = loaded.strategy_id
        spec = _spec(loaded.row)
        if spec is None:
            self.scheduler.every(sid, loaded.interval_s, partial(self._on_live_slot, sid))
        elif spec.speed is None:
            self.scheduler.soon(sid, partial(self._on_replay_slot, sid))
        else:
            interval = loaded.interval_s / spec.speed
            self.scheduler.every(sid, interval, partial(self._on_replay_slot, sid))

    async def _on_live_slot(self, strategy_id: str, slot: int) -> None:
        """The job body of a live strategy: one call into the cycle boundary per slot."""
        async with self._locks[strategy_id]:
            loaded = self._loaded.get(strategy_id)
            if loaded is None or not loaded.running:
                return
            if loaded.last_slot is not None and slot <= loaded.last_slot:
                return  # already ran (a manual cycle, or the clock stepped back)
            if loaded.check_gap:
                await self._record_gap(loaded, slot)
            loaded.check_gap = True
            await self._run_slot(loaded, slot)

    async def _on_replay_slot(self, strategy_id: str, _wall_ms: int) -> None:
        """The job body of a replay: the next simulated slot, then (back to back) the one after."""
        async with self._locks[strategy_id]:
            loaded = self._loaded.get(strategy_id)
            if loaded is None or not loaded.running:
                return
            slot = loaded.next_replay_slot()
            if loaded.timeline is not None and loaded.timeline.finished(slot):
                await self._finish_replay(loaded)
                return
            await self._run_slot(loaded, slot)
            spec = _spec(loaded.row)
            back_to_back = loaded.running and spec is not None and spec.speed is None
        if back_to_back:
            self.scheduler.soon(strategy_id, partial(self._on_replay_slot, strategy_id))

    async def _record_gap(self, loaded: LoadedStrategy, slot: int) -> None:
        last, step = loaded.last_slot, loaded.interval_s * 1000
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
        self._publish(loaded.row, result)

    async def _run_slot(self, loaded: LoadedStrategy, slot: int | None) -> CycleOutcome:
        """One cycle through the boundary, then what its outcome means for the strategy."""
        outcome = await run_cycle(loaded, slot)
        if outcome.result is not None:
            self._publish(loaded.row, outcome.result)
        verdict = status_after(
            outcome, loaded.recorder.consecutive_failures, self.settings.max_consecutive_failures
        )
        if verdict is not None:
            await self._move(loaded, *verdict, action="fail", allowed=CAN_STOP)
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
            before = await self._cycles.equity_before(loaded.strategy_id, day)
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
            outcome = await self._close_positions(loaded, None, reason)
            if outcome.failure is not None:
                reason = f"{reason}; closing positions failed: {outcome.failure.reason}"
        await self._move(loaded, S.STOPPED, reason, action="stop", allowed=CAN_STOP)

    async def _close_positions(
        self, loaded: LoadedStrategy, symbols: Sequence[str] | None, why: str
    ) -> CycleOutcome:
        if loaded.live is not None:
            prefix = "stop" if symbols is None else "close"
            outcome = await run_cycle(LiveClose(loaded, symbols, why, prefix), None)
        else:
            with loaded.composer(ClosePositionsComposer(symbols, why)):
                outcome = await run_cycle(loaded, None)
        if outcome.result is not None:
            self._publish(loaded.row, outcome.result)
        return outcome

    async def _finish_replay(self, loaded: LoadedStrategy) -> None:
        logger.info("replay finished strategy_id=%s", loaded.strategy_id)
        await self._move(loaded, S.STOPPED, REPLAY_FINISHED, action="stop", allowed=CAN_STOP)

    async def _spend_budget(self, loaded: LoadedStrategy) -> None:
        budget = self._budgets.get(loaded.strategy_id)
        if budget is None:
            return
        left, total = budget[0] - 1, budget[1]
        self._budgets[loaded.strategy_id] = (left, total)
        if left <= 0 and loaded.running:
            del self._budgets[loaded.strategy_id]
            reason = f"max cycles reached ({total})"
            await self._move(loaded, S.PAUSED, reason, action="pause", allowed={S.RUNNING})

    # ------------------------------------------------------------------ internals

    async def _resume_all(self) -> None:
        for row in await self._strategies.all(S.RUNNING):
            async with self._locks[row.id]:
                missing = missing_llm_key(row.request)
                if missing is not None:
                    await self._keep_paused(row, missing)
                    continue
                try:
                    if _is_live(row.request):
                        await self._resume_live(row)
                        continue
                    loaded = await self._load(row)
                except (ConfigError, OperationalError) as exc:
                    await self._fail_to_resume(row, str(exc))
                    continue
                except Exception as exc:  # a bug in one strategy must not keep the others down
                    logger.exception("could not resume strategy_id=%s", row.id)
                    await self._fail_to_resume(row, f"{type(exc).__name__}: {exc}")
                    continue
                loaded.check_gap = True
                self._schedule(loaded)
                logger.info("resumed strategy_id=%s name=%s", row.id, row.name)

    async def _keep_paused(self, row: StrategyRow, why: str) -> None:
        """Not resumed for something the operator can fix (e.g. a missing API key): paused with
        the reason, so a resume after the fix continues where it left off."""
        logger.warning("strategy_id=%s not resumed: %s", row.id, why)
        moved = await self._strategies.transition(
            row.id, S.PAUSED, f"not resumed: {why}", action="pause", allowed_from={S.RUNNING}
        )
        self._publish(moved)

    async def _fail_to_resume(self, row: StrategyRow, why: str) -> None:
        reason = f"could not resume: {why}"
        logger.error("strategy_id=%s %s", row.id, reason)
        moved = await self._strategies.transition(
            row.id, S.ERROR, reason, action="fail", allowed_from={S.RUNNING}
        )
        self._publish(moved)

    async def _load(self, row: StrategyRow, live: LiveLink | None = None) -> LoadedStrategy:
        loaded = self._loaded.get(row.id)
        if loaded is None:
            if row.agent_kind == BACKTEST_AGENT_KIND:
                raise ConfigError(
                    f"strategy {row.id} is a stored backtest: its history can be read "
                    "(list_trades, list_cycles, get_digest, get_equity_chart) but it cannot run; "
                    "create_strategy with its config to trade it"
                )
            loaded = await load_strategy(
                row,
                agent=self._agent(row.agent_kind),
                cycles=self._cycles,
                replays=self._replays,
                clock=self._clock,
                live=live,
            )
            self._loaded[row.id] = loaded
        loaded.row = row
        return loaded

    async def _unload(self, strategy_id: str) -> None:
        self.scheduler.cancel(strategy_id)
        loaded = self._loaded.pop(strategy_id, None)
        if loaded is not None:
            await loaded.runtime.close()

    async def _reload_if_loaded(self, row: StrategyRow) -> None:
        """Rebuild a loaded strategy with its new config; reschedule it when it runs."""
        old = self._loaded.get(row.id)
        if old is None:
            return
        await self._unload(row.id)
        loaded = await self._load(row)
        loaded.check_gap = False
        if loaded.running:
            self._schedule(loaded)

    async def _move(
        self,
        loaded: LoadedStrategy,
        to: StrategyStatus,
        reason: str | None,
        *,
        action: str,
        allowed: frozenset[StrategyStatus] | set[StrategyStatus],
    ) -> None:
        row = await self._strategies.transition(
            loaded.strategy_id, to, reason, action=action, allowed_from=allowed
        )
        loaded.row = row
        self._after_move(row)

    def _after_move(self, row: StrategyRow) -> None:
        loaded = self._loaded.get(row.id)
        if loaded is not None:
            loaded.row = row
        if row.status is not S.RUNNING:
            self.scheduler.cancel(row.id)
        logger.info(
            "strategy_id=%s name=%s status=%s reason=%s",
            row.id,
            row.name,
            row.status.value,
            row.reason,
        )
        self._publish(row)

    def _publish(self, row: StrategyRow, cycle: CycleResult | None = None) -> None:
        event = ServiceEvent(row.id, row.name, row.status, row.reason, cycle)
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def _info(self, row: StrategyRow) -> StrategyInfo:
        count, last, summary = await self._cycles.stats(row.id)
        cfg, ex = row.request.trading_config, row.request.exchange_config
        spec = _spec(row)
        return StrategyInfo(
            strategy_id=row.id,
            name=row.name,
            agent_kind=row.agent_kind,
            status=row.status,
            reason=row.reason,
            trading_mode=ex.trading_mode,
            data="live" if spec is None else "replay",
            replay=spec,
            symbols=list(cfg.symbols),
            decide_interval=cfg.decide_interval,
            request=row.request,
            created_at=row.created_at,
            updated_at=row.updated_at,
            cycles=count,
            consecutive_failures=row.consecutive_failures,
            last_slot_ts=row.last_slot_ts,
            last_cycle_ts=None if last is None else last.ts,
            next_run_ms=self.scheduler.next_run_ms(row.id) if row.status is S.RUNNING else None,
            equity=summary.equity if summary else cfg.initial_capital,
            initial_capital=cfg.initial_capital,
            realized_pnl=summary.realized_pnl if summary else 0.0,
            unrealized_pnl=summary.unrealized_pnl if summary else 0.0,
            fees_paid=summary.fees_paid if summary else 0.0,
            total_return_pct=summary.total_return_pct if summary else 0.0,
            open_positions=summary.open_positions if summary else 0,
        )

    async def _close(self) -> None:
        """Scheduled cycles first, then cycles run on demand, get the grace to finish."""
        grace = self.settings.shutdown_grace_s
        await self.scheduler.shutdown(grace)
        for strategy_id in list(self._loaded):
            try:
                async with asyncio.timeout(grace), self._locks[strategy_id]:
                    await self._unload(strategy_id)
            except TimeoutError:
                logger.warning("strategy_id=%s still busy at shutdown; abandoned", strategy_id)

    def _agent(self, kind: str) -> BaseStrategyAgent:
        agent = self._agents.get(kind)
        if agent is None:
            known = ", ".join(sorted(self._agents))
            raise ConfigError(f"unknown agent_kind {kind!r}; known: {known}")
        return agent

    # ------------------------------------------------------------------ live

    def _check_live(
        self,
        request: UserRequest,
        replay: object,
        approval: LiveApproval | None,
        action: Action,
        strategy_id: str | None = None,
    ) -> None:
        """The operator setting, a runnable live request, then the approval: all before any
        traffic to the venue."""
        self.live_gate.require_enabled()
        if replay is not None or self.settings.replay_dir is not None:
            raise ConfigError(
                "live trading needs live market data: this server replays history (replay_dir) "
                "or a replay was asked for; use trading_mode='paper' to replay"
            )
        if not request.exchange_config.credentials_name:
            raise ConfigError(
                "live trading needs exchange_config.credentials_name, naming credentials the "
                "operator configured on the server"
            )
        quote_currency(request)
        if approval is None:
            raise ConfirmationMissing(
                f"{action} of a live strategy needs a human confirmation of this exact request "
                "(the MCP tools ask for it; `tradeloop run` needs --confirm-live); nothing was done"
            )
        self.live_gate.check(approval, action, live_params(action, request, strategy_id))

    async def _live_capital(
        self, request: UserRequest, approval: LiveApproval | None, strategy_id: str
    ) -> UserRequest:
        assert approval is not None  # checked by _check_live
        gateway = open_live_gateway(
            self.live_gate,
            approval,
            "create",
            request,
            intents=self._intents,
            strategy_id=strategy_id,
            clock=self._clock,
            backoff_s=self.settings.live_backoff_s,
        )
        await market_constraints(gateway, request)  # every symbol is listed
        reserved, holders = await self._reserved_capital(request)
        return await with_live_capital(gateway, request, reserved, holders)

    async def _reserved_capital(self, request: UserRequest) -> tuple[Decimal, Sequence[str]]:
        """The cash of the live strategies (not stopped) on the same account and quote currency:
        the free balance still counts it, so a new strategy must not take it as its capital."""
        account, quote = account_of(request), quote_currency(request)
        sharing = [
            row
            for row in await self._strategies.all()
            if row.status is not S.STOPPED
            and _is_live(row.request)
            and account_of(row.request) == account
            and quote_currency(row.request) == quote
        ]
        reserved = Decimal(0)
        for row in sharing:
            view = await self.get_portfolio(row.id)
            reserved += to_decimal(max(view.account_balance, 0.0))
        return reserved, [f"{row.name} ({row.id})" for row in sharing]

    async def _connect_live(self, row: StrategyRow, approval: LiveApproval) -> LoadedStrategy:
        """Load ``row`` to trade on its venue account, with the venue's market rules."""
        await self._unload(row.id)
        gateway = open_live_gateway(
            self.live_gate,
            approval,
            "start",
            row.request,
            intents=self._intents,
            strategy_id=row.id,
            approval_strategy_id=row.id,
            clock=self._clock,
            backoff_s=self.settings.live_backoff_s,
        )
        loaded = await self._load(row, LiveLink(gateway, self._account_locks[gateway.account]))
        try:
            loaded.portfolio.set_constraints(await market_constraints(gateway, row.request))
        except BaseException:
            await self._unload(row.id)
            raise
        return loaded

    async def _reconciled(
        self, row: StrategyRow, approval: LiveApproval
    ) -> tuple[LoadedStrategy, str | None]:
        """Connect, then reconcile: (the loaded strategy, why it must pause or None)."""
        loaded = await self._connect_live(row, approval)
        try:
            return loaded, await self._reconcile(loaded)
        except BaseException:
            await self._unload(row.id)
            raise

    async def _reconcile(self, loaded: LoadedStrategy) -> str | None:
        return (await loaded.settle_with_venue()).pause_reason

    async def _run_live(
        self,
        row: StrategyRow,
        approval: LiveApproval,
        *,
        action: str,
        allowed: frozenset[StrategyStatus] | set[StrategyStatus],
    ) -> None:
        """Reconcile, then run; or pause with the reason."""
        loaded, reason = await self._reconciled(row, approval)
        if reason is not None:
            await self._move(loaded, S.PAUSED, reason, action=action, allowed=allowed)
            return
        await self._move(loaded, S.RUNNING, None, action=action, allowed=allowed)
        self._schedule(loaded)

    async def _resume_live(self, row: StrategyRow) -> None:
        """A live strategy stored as running, at open: reconcile, then schedule or pause. With
        live trading switched off on this server it stays paused, saying so (not ``error``:
        switching it back on and resuming needs no new confirmation)."""
        try:
            approval = self.live_gate.approve_resume(live_params("start", row.request, row.id))
        except LiveTradingDisabled:
            off = (
                "live trading is switched off on this server (TRADELOOP_LIVE_TRADING); "
                "paused at restart: switch it on, then resume_strategy"
            )
            moved = await self._strategies.transition(
                row.id, S.PAUSED, off, action="pause", allowed_from={S.RUNNING}
            )
            self._after_move(moved)
            return
        try:
            loaded, reason = await self._reconciled(row, approval)
        except TemporaryError as exc:
            reason = f"live reconciliation could not reach the venue ({exc}); resume to retry"
            moved = await self._strategies.transition(
                row.id, S.PAUSED, reason, action="pause", allowed_from={S.RUNNING}
            )
            self._after_move(moved)
            return
        if reason is not None:
            await self._move(loaded, S.PAUSED, reason, action="pause", allowed={S.RUNNING})
            return
        loaded.check_gap = True
        self._schedule(loaded)
        logger.info("resumed live strategy_id=%s name=%s", row.id, row.name)

    async def _closing(self, row: StrategyRow) -> LoadedStrategy:
        """The strategy, loaded to close positions: live ones connected to their venue (the
        operator setting is checked again; ``close_live`` settles with the venue first)."""
        loaded = self._loaded.get(row.id)
        if not _is_live(row.request):
            return await self._load(row)
        if loaded is None or loaded.live is None:
            approval = self.live_gate.approve_resume(live_params("start", row.request, row.id))
            loaded = await self._connect_live(row, approval)
        loaded.row = row
        return loaded

    def _replay_spec(self, replay: ReplaySpec | str | Path | None) -> ReplaySpec | None:
        if replay is None:
            if self.settings.replay_dir is None:
                return None
            replay = self.settings.replay_dir
        if isinstance(replay, str | Path):
            replay = ReplaySpec(data_dir=str(replay))
        return replay.model_copy(update={"data_dir": str(Path(replay.data_dir).resolve())})


@dataclass(frozen=True)
class StopOutcome:
    info: StrategyInfo
    closing: list[SymbolClose] = field(default_factory=list)
    """Per symbol held before a stop with close: what was closed, what was not and why."""


def _closing_lines(
    outcome: CycleOutcome, held: Mapping[str, Decimal], left: Mapping[str, Decimal]
) -> list[SymbolClose]:
    """The close report of a forced close: the live one's own (it knows the venue), else the
    ledger's before and after."""
    result = outcome.result
    raw = (result.raw or {}) if result is not None else {}
    if "closing" in raw:
        return [SymbolClose.model_validate(line) for line in raw["closing"]]
    return close_report(held, result.tx_results if result else [], left)


def _is_live(request: UserRequest) -> bool:
    return request.exchange_config.trading_mode is TradingMode.LIVE


def _check_live_update(row: StrategyRow, changes: dict[str, Any]) -> None:
    """A live strategy's caps and settings were confirmed by a human with its start: change them
    only while it is not trading, so the next start asks again."""
    if changes and _is_live(row.request) and row.status in (S.RUNNING, S.PAUSED):
        raise ConfigError(
            f"live strategy {row.id} is {row.status.value}: stop it before changing "
            f"{', '.join(sorted(changes))}; starting it again asks for a new confirmation"
        )


def _updated_request(request: UserRequest, changes: dict[str, Any]) -> UserRequest:
    unknown = sorted(set(changes) - UPDATABLE_FIELDS - FIXED_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(UPDATABLE_FIELDS | {"name"}))
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}; settable: {allowed}")
    fixed = sorted(set(changes) & FIXED_FIELDS)
    if fixed:
        raise ConfigError(f"cannot be changed after creation: {', '.join(fixed)}")
    body = request.model_dump()
    body["trading_config"].update(changes)
    try:
        return UserRequest.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(f"invalid update: {exc}") from exc


def _spec(row: StrategyRow) -> ReplaySpec | None:
    return None if row.replay is None else ReplaySpec.model_validate(row.replay)


def _stored(outcome: CycleOutcome, strategy_id: str) -> CycleResult:
    if outcome.result is None:
        raise OperationalError(f"strategy {strategy_id}: the cycle could not be recorded")
    return outcome.result


def _page_cursor(cursor: str | None, limit: int, newest_first: bool) -> PageCursor:
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    after: int | None = None
    if cursor is not None:
        if not cursor.isdigit():
            raise ConfigError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
        after = int(cursor)
    return PageCursor(after_id=after, limit=limit + 1, ascending=not newest_first)


def _split_page(rows: list, limit: int, *, key: Any) -> tuple[list, str | None]:
    if len(rows) <= limit:
        return rows, None
    items = rows[:limit]
    return items, str(key(items[-1]))


def _symbol_filter(symbol: str | None) -> str | None:
    if symbol is None:
        return None
    try:
        return normalize_symbol(symbol)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat()


def _preview_result(
    context: ComposeContext, proposal: ComposeResult, guarded: GuardResult
) -> CycleResult:
    return CycleResult(
        compose_id=context.compose_id,
        strategy_id=context.strategy_id,
        ts=context.ts,
        status=CycleStatus.SKIPPED if proposal.skipped_reason else CycleStatus.OK,
        reason=proposal.skipped_reason,
        features=context.features,
        rationale=proposal.rationale,
        raw=proposal.raw,
        usage=proposal.usage,
        proposed=proposal.instructions,
        instructions=guarded.instructions,
        guard_notes=guarded.notes,
        portfolio=context.portfolio,
        strategy_summary=summarize(context.portfolio),
    )
