"""Backtests through the live pipeline: the same agent, coordinator, features, composer, guardrails,
paper gateway, ledger, recorder and digest, fed by a ``ReplayMarketDataSource`` on simulated time.

A run is ``BacktestSpec`` -> cycles at ``start, start + decide_interval, ...`` up to ``end``, back to
back, each seeing only candles that had closed at its time. The default start is the first time at
which every series has ``warmup_candles`` closed candles (indicators are computed over the whole
series once, so earlier history still counts). Every cycle is recorded like a live strategy's; the
run also keeps its equity curve and ends with ``compute_stats``.

LLM runs go through ``CachedAnthropicClient``: a re-run is free and makes the same decisions, and
``max_cost_usd`` stops a run before the call that would pass it (status ``stopped``).
A ``TemporaryError`` in a cycle is recorded as an error cycle and the run moves on, as live; after
``MAX_CONSECUTIVE_ERRORS`` in a row the run stops. Any other exception fails the run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from tradeloop.backtest.data import resolve_data_files
from tradeloop.backtest.llm_cache import (
    CachedAnthropicClient,
    CostCapReached,
    ReplyCache,
    default_cache_dir,
    estimate_cost,
)
from tradeloop.backtest.models import BacktestStats, BacktestSummary, CostEstimate, LlmSpend
from tradeloop.backtest.stats import EquityPoint, compute_stats, equity_point
from tradeloop.trading._internal.runtime import Components, StrategyRuntime
from tradeloop.trading.base_agent import BaseStrategyAgent, DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.errors import ConfigError, OperationalError, TemporaryError
from tradeloop.trading.history.recorder import InMemoryHistoryRecorder
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    MarketType,
    TradeDigest,
    TradeHistoryEntry,
    TradingMode,
    UserRequest,
)
from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService
from tradeloop.trading.portfolio.ledger import Ledger
from tradeloop.trading.utils import new_id

if TYPE_CHECKING:
    from tradeloop.store.db import Database

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str], Awaitable[None]]
"""``await progress(done, total, message)``; called about every percent and at the end."""

DEFAULT_WARMUP_CANDLES = 100
"""Closed candles each series needs before the first cycle (EMA 50 and MACD need fewer)."""
MAX_CONSECUTIVE_ERRORS = 5
KEEP_CYCLES_IN_MEMORY = 100
"""Latest cycles an in-memory run keeps for inspection (its trades and equity curve are all kept;
a stored run keeps every cycle until it is written). Few: every kept cycle is a few dozen objects
the garbage collector scans again and again, which cost a third of the speed at 5,000."""
YIELD_EVERY = 256
"""Cycles between yields to the event loop, so a server stays responsive during a long run."""
PROGRESS_STEPS = 100
GC_YOUNG_THRESHOLD = 50_000
"""A run keeps many long-lived objects (cycles, trades); collecting young objects every 700
allocations would rescan them over and over (measured: 30-40 % of a rule backtest's time)."""


class BacktestSpec(BaseModel):
    """One backtest: a strategy config, its candles and a time window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: UserRequest
    data: list[str] = Field(min_length=1)
    """CSV files or folders; see ``tradeloop.backtest.data`` for the accepted forms."""
    start_ms: int | None = None
    """Time of the first cycle; default: as soon as every series is warm."""
    end_ms: int | None = None
    """No cycle after this time; default: the close of the last candle all files cover."""
    warmup_candles: int = Field(default=DEFAULT_WARMUP_CANDLES, ge=1, le=100_000)
    max_cost_usd: float | None = Field(default=None, ge=0)
    llm_cache_dir: str | None = None
    """Where LLM replies are cached; default: the user cache directory."""
    skip_bad_rows: bool = False
    """Leave out bad candle rows with a counted warning; by default a bad row fails the run."""


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    end_ms: int
    step_ms: int

    @property
    def cycles(self) -> int:
        return (self.end_ms - self.start_ms) // self.step_ms + 1

    def at(self, index: int) -> int:
        return self.start_ms + index * self.step_ms


@dataclass(repr=False)
class BacktestRun:
    """A run in progress or finished; its curve and recorder grow while it runs."""

    run_id: str
    request: UserRequest
    window: Window
    recorder: InMemoryHistoryRecorder
    equity_curve: list[EquityPoint] = field(default_factory=list)
    status: Literal["running", "completed", "stopped", "failed"] = "running"
    stop_reason: str | None = None
    error_cycles: int = 0
    elapsed_s: float = 0.0
    stats: BacktestStats | None = None
    digest: TradeDigest | None = None
    trades: list[TradeHistoryEntry] = field(default_factory=list)
    llm: LlmSpend | None = None

    def __repr__(self) -> str:
        """Short: asyncio and logging may repr a run, and the generated repr would print every
        cycle (half a second for a 17,000-cycle run)."""
        return (
            f"BacktestRun(run_id={self.run_id!r}, status={self.status!r}, "
            f"cycles_done={self.cycles_done}, trades={len(self.trades)})"
        )

    @property
    def cycles_done(self) -> int:
        return len(self.equity_curve)

    def take_cycles_to_store(self) -> list[tuple[CycleResult, Ledger]]:
        """Every cycle of a finished run with the ledger after it, handed over once (the run
        then holds only its recent cycles). Raises ConfigError unless the run was started with
        ``storable=True`` (or ``store``), has finished and was not handed over yet."""
        recorder = self.recorder
        if not isinstance(recorder, _StoringRecorder) or recorder.taken:
            raise ConfigError(f"backtest {self.run_id} has no cycles to store")
        if self.status == "running":
            raise ConfigError(f"backtest {self.run_id} is still running")
        return recorder.take()

    def summary(self) -> BacktestSummary:
        symbols = self.request.trading_config.symbols
        elapsed = self.elapsed_s
        return BacktestSummary(
            run_id=self.run_id,
            strategy_name=self.request.trading_config.strategy_name,
            symbols=list(symbols),
            status=self.status,
            stop_reason=self.stop_reason,
            cycles_done=self.cycles_done,
            cycles_total=self.window.cycles,
            error_cycles=self.error_cycles,
            start_ms=self.window.start_ms,
            end_ms=self.window.end_ms,
            elapsed_s=round(elapsed, 3),
            candles_per_s=round(self.cycles_done * len(symbols) / elapsed, 1) if elapsed else 0.0,
            stats=self.stats,
            llm=self.llm,
        )


class BacktestRuns:
    """Backtest runs by id, newest last; the server keeps one in its app state."""

    def __init__(self, max_runs: int = 50) -> None:
        self._runs: dict[str, BacktestRun] = {}
        self._max = max_runs

    def add(self, run: BacktestRun) -> None:
        self._runs[run.run_id] = run
        finished = [r for r in self._runs.values() if r.status != "running"]
        for old in finished[: max(0, len(self._runs) - self._max)]:
            del self._runs[old.run_id]

    def get(self, run_id: str) -> BacktestRun:
        from tradeloop.trading.errors import NotFound

        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"no backtest run {run_id!r}")
        return run

    def list(self) -> list[BacktestRun]:
        return list(self._runs.values())


class _StoringRecorder(InMemoryHistoryRecorder):
    """Keeps every cycle with the (immutable) ledger after it, to store the run when it ends."""

    def __init__(self) -> None:
        super().__init__(keep_cycles=KEEP_CYCLES_IN_MEMORY)
        self.portfolio: InMemoryPortfolioService | None = None
        self.with_ledgers: list[tuple[CycleResult, Ledger]] = []
        self.taken = False

    async def record(self, result: CycleResult) -> None:
        await super().record(result)
        assert self.portfolio is not None
        self.with_ledgers.append((result, self.portfolio.ledger))

    def take(self) -> list[tuple[CycleResult, Ledger]]:
        cycles, self.with_ledgers, self.taken = self.with_ledgers, [], True
        return cycles


# --------------------------------------------------------------------------- the run


async def run_backtest(
    spec: BacktestSpec,
    *,
    progress: ProgressCallback | None = None,
    agent: BaseStrategyAgent | None = None,
    llm_client: object | None = None,
    runs: BacktestRuns | None = None,
    run_id: str | None = None,
    store: Database | None = None,
    storable: bool = False,
) -> BacktestRun:
    """Run ``spec`` to the end (or its cost cap) and return the finished run.

    ``agent``: a custom ``BaseStrategyAgent`` to test (default: the one live strategies use; with a
    custom agent its own composer is used, without the reply cache). ``llm_client``: the Anthropic
    client to call on cache misses (default: built from ``llm_model_config`` and the environment).
    ``runs``: registered there at start, so its chart can be drawn while it runs.
    ``store``: the server's database; the finished run is stored there as a stopped strategy
    with id ``run_id`` (all its cycles are then kept in memory until the end).
    ``storable``: keep every cycle with its ledger, for ``StrategyService.import_backtest(run)``.
    """
    request = paper_request(spec.request)
    clock = SimulatedClock(0)
    source = replay_source(spec, request, clock)
    window = plan_window(source, request, spec)
    run_id = run_id or new_id("bt")
    llm = _llm_client(request, spec, llm_client) if agent is None else None
    recorder = (
        _StoringRecorder()
        if store or storable
        else InMemoryHistoryRecorder(keep_cycles=KEEP_CYCLES_IN_MEMORY)
    )
    runtime = await (agent or DefaultStrategyAgent()).create_runtime(
        request,
        strategy_id=run_id,
        components=Components(
            market_data=source, clock=clock, recorder=recorder, composer=_composer(request, llm)
        ),
    )
    runtime.coordinator.log_cycles = False  # the run logs its summary; progress reports the rest
    if isinstance(recorder, _StoringRecorder):
        recorder.portfolio = _in_memory_portfolio(runtime)
    run = BacktestRun(run_id=run_id, request=request, window=window, recorder=recorder)
    if runs is not None:
        runs.add(run)
    started = time.perf_counter()
    try:
        estimate = await _estimate(runtime, request, window, llm)
        with _fewer_collections():
            await _drive(run, runtime, clock, progress, estimate)
        await _finish(run, runtime, llm, estimate)
        if store is not None:
            await _store(store, run)
    except BaseException as exc:
        run.status, run.stop_reason = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        run.elapsed_s = time.perf_counter() - started
        await runtime.close()
        if llm is not None:
            await llm.close()
    logger.info(
        "backtest run_id=%s status=%s cycles=%d elapsed_s=%.2f",
        run_id,
        run.status,
        run.cycles_done,
        run.elapsed_s,
    )
    return run


def _in_memory_portfolio(runtime: StrategyRuntime) -> InMemoryPortfolioService:
    portfolio = runtime.coordinator.portfolio
    if not isinstance(portfolio, InMemoryPortfolioService):
        raise ConfigError("storing a backtest needs the default (in-memory ledger) portfolio")
    return portfolio


async def _store(db: Database, run: BacktestRun) -> None:
    from tradeloop.backtest.store import store_run, stored_reason

    await store_run(
        db,
        run_id=run.run_id,
        request=run.request,
        cycles=run.take_cycles_to_store(),
        reason=stored_reason(run.status, run.stop_reason),
    )


_gc_depth = 0


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the young-generation GC threshold while any run is in progress (restored after)."""
    global _gc_depth
    saved = gc.get_threshold()
    if _gc_depth == 0:
        gc.set_threshold(max(saved[0], GC_YOUNG_THRESHOLD), *saved[1:])
    _gc_depth += 1
    try:
        yield
    finally:
        _gc_depth -= 1
        if _gc_depth == 0:
            gc.set_threshold(*saved)


def replay_source(
    spec: BacktestSpec, request: UserRequest, clock: SimulatedClock
) -> ReplayMarketDataSource:
    """The spec's candles, every file read and checked before the first cycle."""
    source = ReplayMarketDataSource(
        data_files(spec, request), clock, skip_bad_rows=spec.skip_bad_rows
    )
    source.load(request.trading_config.symbols)
    return source


def data_files(spec: BacktestSpec, request: UserRequest) -> dict[tuple[str, str], Path]:
    ex = request.exchange_config
    venue = f"{ex.exchange_id}_{'spot' if ex.market_type is MarketType.SPOT else 'linear'}"
    return resolve_data_files(spec.data, request.trading_config.symbols, venue)


def paper_request(request: UserRequest) -> UserRequest:
    """The request as a paper strategy: a backtest never reaches a venue or holds credentials."""
    ex = request.exchange_config
    paper = ex.model_copy(
        update={
            "trading_mode": TradingMode.VIRTUAL,
            "api_key": None,
            "secret_key": None,
            "passphrase": None,
        }
    )
    return request.model_copy(update={"exchange_config": paper})


def plan_window(source: ReplayMarketDataSource, request: UserRequest, spec: BacktestSpec) -> Window:
    """Cycle times: multiples of ``decide_interval`` from the warm start (or ``spec.start_ms``, if
    later) to the data's end (or ``spec.end_ms``, if earlier)."""
    cfg = request.trading_config
    warm = source.start_ms(
        spec.warmup_candles, intervals=cfg.feature_intervals, symbols=cfg.symbols
    )
    start = warm if spec.start_ms is None else spec.start_ms
    if start < warm:
        logger.warning(
            "backtest start moved from %d to %d: fewer than %d candles before it",
            start,
            warm,
            spec.warmup_candles,
        )
        start = warm
    step_ms = cfg.decide_interval * 1000
    start = -(-start // step_ms) * step_ms  # slots are multiples of decide_interval, as live
    end = source.last_ts() if spec.end_ms is None else min(spec.end_ms, source.last_ts())
    if end < start:
        raise ConfigError(
            f"no cycle fits: the window ends at {end}, before the first warm cycle at {start}"
        )
    return Window(start_ms=start, end_ms=end, step_ms=step_ms)


async def _drive(
    run: BacktestRun,
    runtime: StrategyRuntime,
    clock: SimulatedClock,
    progress: ProgressCallback | None,
    estimate: CostEstimate | None,
) -> None:
    coordinator, window = runtime.coordinator, run.window
    total = window.cycles
    every = -(-total // PROGRESS_STEPS)  # at most PROGRESS_STEPS reports, plus the last
    consecutive = 0
    for index in range(total):
        slot = window.at(index)
        clock.set(slot)
        try:
            result = await coordinator.run_once(f"c_{run.run_id}_{index}", slot_ts=slot)
            consecutive = 0
        except CostCapReached as exc:
            run.status, run.stop_reason = "stopped", str(exc)
            break
        except TemporaryError as exc:
            result, consecutive = await _error_cycle(run, runtime, exc), consecutive + 1
            if consecutive >= MAX_CONSECUTIVE_ERRORS:
                run.status = "stopped"
                run.stop_reason = f"{consecutive} cycles in a row failed, the last with: {exc}"
                break
        run.equity_curve.append(equity_point(result))
        if result.trades:
            run.trades.extend(result.trades)
        if progress is not None and ((index + 1) % every == 0 or index + 1 == total):
            await progress(index + 1, total, _progress_message(result, estimate))
        elif (index + 1) % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    if run.status == "running":
        run.status = "completed"


async def _error_cycle(run: BacktestRun, runtime: StrategyRuntime, exc: Exception) -> CycleResult:
    run.error_cycles += 1
    logger.warning("backtest run_id=%s cycle failed, continuing: %s", run.run_id, exc)
    return await runtime.coordinator.record_failure(CycleStatus.ERROR, str(exc))


def _progress_message(result: CycleResult, estimate: CostEstimate | None) -> str:
    summary = result.strategy_summary
    text = f"equity {summary.equity:,.2f} ({summary.total_return_pct:+.2f} %)"
    if estimate is not None:
        text += f", estimated LLM cost {estimate.cost_usd:.2f} USD"
    return text


async def _finish(
    run: BacktestRun,
    runtime: StrategyRuntime,
    llm: CachedAnthropicClient | None,
    estimate: CostEstimate | None,
) -> None:
    coordinator = runtime.coordinator
    run.digest = await coordinator.digest.build()
    cfg = run.request.trading_config
    run.stats = compute_stats(run.trades, run.equity_curve, initial_capital=cfg.initial_capital)
    if llm is not None:
        stats = llm.stats
        run.llm = LlmSpend(
            calls=stats.misses,
            cache_hits=stats.hits,
            spent_usd=round(stats.spent_usd, 6),
            saved_usd=round(stats.saved_usd, 6),
            estimate=estimate,
        )


# --------------------------------------------------------------------------- LLM runs


def _llm_client(
    request: UserRequest, spec: BacktestSpec, client: object | None
) -> CachedAnthropicClient | None:
    if request.trading_config.composer != "llm":
        return None
    from tradeloop.trading.decision.prompt_based.composer import build_client, resolve_api_key

    cfg = request.llm_model_config
    cache = ReplyCache(Path(spec.llm_cache_dir) if spec.llm_cache_dir else default_cache_dir())
    if client is not None:
        return CachedAnthropicClient(
            cache, lambda: client, max_cost_usd=spec.max_cost_usd, close_client=False
        )
    return CachedAnthropicClient(
        cache,
        lambda: build_client(cfg, resolve_api_key(cfg)),
        max_cost_usd=spec.max_cost_usd,
    )


def _composer(request: UserRequest, llm: CachedAnthropicClient | None) -> BaseComposer | None:
    if llm is None:
        return None
    from tradeloop.trading.decision.prompt_based.composer import LlmComposer

    return LlmComposer(request, client=llm)  # type: ignore[arg-type]  # duck-typed client


async def _estimate(
    runtime: StrategyRuntime,
    request: UserRequest,
    window: Window,
    llm: CachedAnthropicClient | None,
) -> CostEstimate | None:
    """Cost of the run if nothing were cached, from the first cycle's real prompt; no API call."""
    if llm is None:
        return None
    clock = runtime.clock
    if isinstance(clock, SimulatedClock):
        clock.set(window.start_ms)
    context = await runtime.coordinator.build_context("c_estimate")
    estimate = estimate_cost(
        request,
        context,
        window.cycles,
        first_cycle_cached=await _first_cached(request, llm, context),
    )
    logger.info(
        "llm backtest estimate cycles=%d tokens=%d cost_usd=%.4f (at most %.4f) first_cached=%s",
        estimate.cycles,
        estimate.total_tokens,
        estimate.cost_usd,
        estimate.max_cost_usd,
        estimate.first_cycle_cached,
    )
    return estimate


async def _first_cached(request: UserRequest, llm: CachedAnthropicClient, context: object) -> bool:
    """Compose the first cycle against the cache alone: a hit means a re-run."""
    from tradeloop.trading.decision.prompt_based.composer import LlmComposer

    probe = CachedAnthropicClient(llm.cache, client_factory=None)
    try:
        await LlmComposer(request, client=probe).compose(context)  # type: ignore[arg-type]
    except OperationalError:
        return False
    return True


async def estimate_backtest(spec: BacktestSpec) -> CostEstimate | None:
    """What ``run_backtest(spec)`` would cost in LLM calls (None for the rule composer)."""
    request = paper_request(spec.request)
    if request.trading_config.composer != "llm":
        return None
    clock = SimulatedClock(0)
    source = replay_source(spec, request, clock)
    window = plan_window(source, request, spec)
    llm = _llm_client(request, spec, None)
    runtime = await DefaultStrategyAgent().create_runtime(
        request,
        components=Components(market_data=source, clock=clock, composer=_composer(request, llm)),
    )
    try:
        return await _estimate(runtime, request, window, llm)
    finally:
        await runtime.close()
