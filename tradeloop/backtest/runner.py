"""Backtests through the live pipeline: the same agent, coordinator, features, composer, guardrails,
paper gateway, ledger, recorder and digest, fed by a ``ReplayMarketDataSource`` on simulated time.

A run is ``BacktestSpec`` -> cycles at ``start, start + decide_interval, ...`` up to ``end``, back to
back, each seeing only candles that had closed at its time. The default start is the first time at
which every series has ``warmup_candles`` closed candles (indicators are computed over the whole
series once, so earlier history still counts). Every cycle is recorded like a live strategy's; the
run also keeps its equity curve and ends with ``compute_stats``.

LLM runs go through ``CachedLlmClient``: a re-run is free and makes the same decisions, and
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
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tradeloop.backtest.baselines import (
    BUY_AND_HOLD,
    DEFAULT_RULES,
    DESCRIPTIONS,
    hold_curve,
    snapshot_prices,
)
from tradeloop.backtest.data import resolve_data_files
from tradeloop.backtest.fast_forward import FastForward
from tradeloop.backtest.honesty import cutoff_warning
from tradeloop.backtest.llm_cache import (
    CachedLlmClient,
    CostCapReached,
    ReplyCache,
    default_cache_dir,
    estimate_cost,
)
from tradeloop.backtest.models import (
    BacktestStats,
    BacktestSummary,
    BaselineResult,
    CostEstimate,
    LlmDecisions,
    LlmSpend,
)
from tradeloop.backtest.stats import EquityPoint, compute_stats, equity_point
from tradeloop.trading._internal.runtime import Components, StrategyRuntime
from tradeloop.trading.base_agent import BaseStrategyAgent, DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock, slot_at_or_after, slot_step_ms
from tradeloop.trading.data.replay import FileSeriesCache, ReplayMarketDataSource
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.prompt_based.by_provider import build_client
from tradeloop.trading.decision.prompt_based.composer import LlmComposer
from tradeloop.trading.decision.prompt_based.pricing import known_price
from tradeloop.trading.decision.prompt_based.providers import resolve_api_key
from tradeloop.trading.errors import ConfigError, NotFound, OperationalError, TemporaryError
from tradeloop.trading.history.recorder import InMemoryHistoryRecorder
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    MarketType,
    RuleComposerConfig,
    TradeDigest,
    TradeHistoryEntry,
    TradingMode,
    UserRequest,
)
from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService
from tradeloop.trading.portfolio.ledger import Ledger
from tradeloop.trading.utils import new_id

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
    fast_forward: bool = True
    """Apply quiet cycles in bulk when the composer declares its signals (see ``fast_forward``);
    False runs every cycle through the pipeline. Same results either way."""
    baselines: bool = True
    """Also run buy-and-hold and the default rules strategy over the same window."""


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

    def slots(self) -> np.ndarray:
        """Every cycle time, as int64 ms."""
        return self.start_ms + np.arange(self.cycles, dtype=np.int64) * self.step_ms


@dataclass
class _UsageTally:
    """LLM usage summed over a run's cycles (what was billed now; cache hits count 0)."""

    decisions: int = 0
    skipped: int = 0
    repaired: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0

    def add(self, result: CycleResult) -> None:
        usage = result.usage
        if usage is None:
            return
        self.decisions += 1
        self.input_tokens += (
            usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
        )
        self.output_tokens += usage.output_tokens
        if usage.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += usage.cost_usd
        skipped = (result.reason or "").startswith("llm_invalid")
        self.skipped += skipped
        attempts = (result.raw or {}).get("attempts")
        self.repaired += attempts == 2 and not skipped


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
    pipeline_cycles: int = 0
    """Cycles run through the whole pipeline; the others were fast-forwarded in bulk."""
    elapsed_s: float = 0.0
    stats: BacktestStats | None = None
    digest: TradeDigest | None = None
    trades: list[TradeHistoryEntry] = field(default_factory=list)
    llm: LlmSpend | None = None
    llm_decisions: LlmDecisions | None = None
    usage: _UsageTally | None = None
    baselines: list[BaselineResult] = field(default_factory=list)
    hold_curve: list[EquityPoint] = field(default_factory=list)
    """Buy-and-hold's equity at the run's cycle times (empty without baselines)."""
    warnings: list[str] = field(default_factory=list)

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
            llm_decisions=self.llm_decisions,
            baselines=list(self.baselines),
            warnings=list(self.warnings),
        )


class BacktestRuns:
    """Backtest runs and comparisons by id, newest last; the server keeps one in its app state.

    Each may have an owner (``own``, a principal's name): a lookup for an ``owner`` finds only
    that owner's, and another's answers exactly like an unknown id."""

    def __init__(self, max_runs: int = 50) -> None:
        self._runs: dict[str, BacktestRun] = {}
        self._max = max_runs
        self.comparisons: dict[str, object] = {}
        """Finished comparisons (``compare.ComparisonRun``) by id, for their chart; the newest
        ``max_runs`` are kept."""
        self._owners: dict[str, str] = {}

    def own(self, run_id: str, owner: str) -> None:
        """Record ``owner`` of the run or comparison ``run_id`` (before it is added)."""
        self._owners[run_id] = owner

    def add_comparison(self, comparison_id: str, comparison: object) -> None:
        self.comparisons[comparison_id] = comparison
        for old in list(self.comparisons)[: max(0, len(self.comparisons) - self._max)]:
            del self.comparisons[old]
            self._owners.pop(old, None)

    def add(self, run: BacktestRun) -> None:
        self._runs[run.run_id] = run
        finished = [r for r in self._runs.values() if r.status != "running"]
        for old in finished[: max(0, len(self._runs) - self._max)]:
            del self._runs[old.run_id]
            self._owners.pop(old.run_id, None)

    def get(self, run_id: str, *, owner: str | None = None) -> BacktestRun:
        """``owner``: only a run of that owner's; None: any."""
        run = self._runs.get(run_id)
        if run is None or not self._sees(run_id, owner):
            raise NotFound(f"no backtest run {run_id!r}")
        return run

    def comparison(self, comparison_id: str, *, owner: str | None = None) -> object | None:
        """The comparison kept under ``comparison_id`` (of ``owner``'s, unless None), or None."""
        done = self.comparisons.get(comparison_id)
        return done if self._sees(comparison_id, owner) else None

    def list(self) -> list[BacktestRun]:
        return list(self._runs.values())

    def _sees(self, run_id: str, owner: str | None) -> bool:
        return owner is None or self._owners.get(run_id) == owner


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
    storable: bool = False,
) -> BacktestRun:
    """Run ``spec`` to the end (or its cost cap) and return the finished run.

    ``agent``: a custom ``BaseStrategyAgent`` to test (default: the one live strategies use; with a
    custom agent its own composer is used, without the reply cache). ``llm_client``: the Anthropic
    client to call on cache misses (default: built from ``llm_model_config`` and the environment).
    ``runs``: registered there at start, so its chart can be drawn while it runs.
    ``storable``: keep every cycle with its ledger, for ``StrategyService.import_backtest(run)``
    (the backtest service stores every run it is asked for that way).
    """
    if agent is None:
        check_cost_cap(spec.request, spec.max_cost_usd)
    request = paper_request(spec.request)
    clock = SimulatedClock(0)
    source = replay_source(spec, request, clock)
    window = plan_window(source, request, spec)
    clock.set(window.start_ms)  # the fresh account is as of the first cycle, never epoch 0
    run_id = run_id or new_id("bt")
    llm = _llm_client(request, spec, llm_client) if agent is None else None
    recorder = (
        _StoringRecorder()
        if storable
        else InMemoryHistoryRecorder(keep_cycles=KEEP_CYCLES_IN_MEMORY)
    )
    runtime = await (agent or DefaultStrategyAgent()).create_runtime(
        request,
        strategy_id=run_id,
        components=Components(
            market_data=source,
            clock=clock,
            recorder=recorder,
            composer=_composer(request, llm),
            log_cycles=False,  # the run logs its summary; progress reports the rest
        ),
    )
    if isinstance(recorder, _StoringRecorder):
        recorder.portfolio = _in_memory_portfolio(runtime)
    run = BacktestRun(run_id=run_id, request=request, window=window, recorder=recorder)
    if request.trading_config.composer == "llm":
        warning = cutoff_warning(request.llm_model_config, window.start_ms)
        run.warnings += [warning] if warning else []
    if runs is not None:
        runs.add(run)
    started = time.perf_counter()
    try:
        estimate = await _estimate(runtime, request, window, llm)
        fast = spec.fast_forward and not isinstance(recorder, _StoringRecorder)
        with _fewer_collections():
            await _drive(run, runtime, clock, progress, estimate, source if fast else None)
        await _finish(run, runtime, llm, estimate)
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
    if spec.baselines:
        await add_baselines(run, spec)
    return run


def _in_memory_portfolio(runtime: StrategyRuntime) -> InMemoryPortfolioService:
    portfolio = runtime.coordinator.portfolio
    if not isinstance(portfolio, InMemoryPortfolioService):
        raise ConfigError("storing a backtest needs the default (in-memory ledger) portfolio")
    return portfolio


_FILES = {strict: FileSeriesCache() for strict in (False, True)}
"""Candle files read by this process's backtests (until they change), by ``skip_bad_rows``: a sweep
or a repeated run reads each file, and computes its indicator frame (shared by series), once."""

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
        data_files(spec, request),
        clock,
        skip_bad_rows=spec.skip_bad_rows,
        series_cache=_FILES[spec.skip_bad_rows],
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


def spec_window(spec: BacktestSpec) -> Window:
    """The cycle times ``run_backtest(spec)`` would run, without running it."""
    request = paper_request(spec.request)
    return plan_window(replay_source(spec, request, SimulatedClock(0)), request, spec)


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
    start = slot_at_or_after(start, cfg.decide_interval)  # slots as live strategies have them
    end = source.last_ts() if spec.end_ms is None else min(spec.end_ms, source.last_ts())
    if end < start:
        raise ConfigError(
            f"no cycle fits: the window ends at {end}, before the first warm cycle at {start}"
        )
    return Window(start_ms=start, end_ms=end, step_ms=slot_step_ms(cfg.decide_interval))


async def _drive(
    run: BacktestRun,
    runtime: StrategyRuntime,
    clock: SimulatedClock,
    progress: ProgressCallback | None,
    estimate: CostEstimate | None,
    fast_source: ReplayMarketDataSource | None = None,
) -> None:
    """Every cycle of the window in order; with ``fast_source``, quiet stretches in bulk."""
    coordinator, window = runtime.coordinator, run.window
    total = window.cycles
    report = _Progress(progress, total, run.request.trading_config.initial_capital, estimate)
    fast: FastForward | None = None
    consecutive = 0
    index = 0
    while index < total:
        if fast is not None:
            active = await fast.next_active(index)
            if active > index:
                run.equity_curve.extend(await fast.skip(index, active))
                await report.skipped(index, active, run.equity_curve)
                index = active
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
        run.pipeline_cycles += 1
        run.equity_curve.append(equity_point(result))
        if result.usage is not None:
            if run.usage is None:
                run.usage = _UsageTally()
            run.usage.add(result)
        if result.trades:
            run.trades.extend(result.trades)
        await report.advance(index, index + 1, result.strategy_summary.equity)
        if index == 0 and fast_source is not None:  # after the first cycle built the features
            fast = FastForward.plan(runtime, fast_source, window.slots())
        index += 1
    if run.status == "running":
        run.status = "completed"


class _Progress:
    """Calls ``progress`` about every percent of the cycles, and yields to the event loop every
    ``YIELD_EVERY`` cycles, however many cycles each step covers."""

    def __init__(
        self,
        progress: ProgressCallback | None,
        total: int,
        initial_capital: float,
        estimate: CostEstimate | None,
    ) -> None:
        self._progress, self._total = progress, total
        self._every = -(-total // PROGRESS_STEPS)  # at most PROGRESS_STEPS reports, plus the last
        self._initial, self._estimate = initial_capital, estimate

    async def advance(self, before: int, done: int, equity: float) -> None:
        if self._progress is not None and (
            done // self._every > before // self._every or done == self._total
        ):
            await self._progress(done, self._total, self._message(equity))
        elif done // YIELD_EVERY > before // YIELD_EVERY:
            await asyncio.sleep(0)

    async def skipped(self, before: int, done: int, curve: list[EquityPoint]) -> None:
        """A fast-forwarded stretch: one report per step it covers, as if run cycle by cycle."""
        if self._progress is None:
            return await self.advance(before, done, curve[done - 1].equity)
        for step in range(before // self._every + 1, done // self._every + 1):
            at = step * self._every
            await self._progress(at, self._total, self._message(curve[at - 1].equity))

    def _message(self, equity: float) -> str:
        text = f"equity {equity:,.2f} ({(equity / self._initial - 1) * 100:+.2f} %)"
        if self._estimate is not None and self._estimate.cost_usd is not None:
            text += f", estimated LLM cost {self._estimate.cost_usd:.2f} USD"
        return text


async def _error_cycle(run: BacktestRun, runtime: StrategyRuntime, exc: Exception) -> CycleResult:
    run.error_cycles += 1
    logger.warning("backtest run_id=%s cycle failed, continuing: %s", run.run_id, exc)
    return await runtime.coordinator.record_failure(CycleStatus.ERROR, str(exc))


async def _finish(
    run: BacktestRun,
    runtime: StrategyRuntime,
    llm: CachedLlmClient | None,
    estimate: CostEstimate | None,
) -> None:
    coordinator = runtime.coordinator
    run.digest = await coordinator.digest.build()
    cfg = run.request.trading_config
    run.stats = compute_stats(run.trades, run.equity_curve, initial_capital=cfg.initial_capital)
    run.llm_decisions = _llm_decisions(run.usage, llm)
    if llm is not None:
        stats = llm.stats
        run.llm = LlmSpend(
            calls=stats.misses,
            cache_hits=stats.hits,
            spent_usd=round(stats.spent_usd, 6),
            saved_usd=round(stats.saved_usd, 6),
            estimate=estimate,
            unpriced_calls=stats.unpriced_calls,
        )


def _llm_decisions(tally: _UsageTally | None, llm: CachedLlmClient | None) -> LlmDecisions | None:
    """Tokens and cost of every decision: billed in this run plus served from the cache."""
    if tally is None:
        return None
    input_tokens, output_tokens = tally.input_tokens, tally.output_tokens
    cost: float | None = tally.cost_usd
    if llm is not None:
        input_tokens += llm.stats.saved_input_tokens
        output_tokens += llm.stats.saved_output_tokens
        cost = tally.cost_usd + llm.stats.saved_usd
        unpriced = llm.stats.unpriced_calls > 0
    else:
        unpriced = tally.unpriced > 0
    if unpriced or tally.unpriced:
        cost = None
    return LlmDecisions(
        decisions=tally.decisions,
        skipped=tally.skipped,
        repaired=tally.repaired,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=None if cost is None else round(cost, 6),
        cost_per_decision_usd=(
            None if cost is None or not tally.decisions else round(cost / tally.decisions, 6)
        ),
    )


# --------------------------------------------------------------------------- baselines


async def add_baselines(
    run: BacktestRun, spec: BacktestSpec, memo: dict[str, BacktestStats] | None = None
) -> None:
    """Buy-and-hold at the run's cycle times and the default rules strategy on its window;
    ``memo`` shares default-rules runs between runs of one comparison."""
    request, times = run.request, [p.ts for p in run.equity_curve]
    if not times:
        return
    cfg, ex = request.trading_config, request.exchange_config
    prices = await snapshot_prices(
        data_files(spec, request), cfg.symbols, times, skip_bad_rows=spec.skip_bad_rows
    )
    hold = hold_curve(
        times,
        prices,
        capital=cfg.initial_capital,
        fee_bps=ex.fee_bps,
        slippage_bps=ex.max_slippage_bps,
    )
    run.hold_curve = hold.curve
    hold_stats = compute_stats(hold.trades, hold.curve, initial_capital=cfg.initial_capital)
    rules_stats = await _default_rules_stats(run, spec, memo if memo is not None else {})
    run.baselines = [
        BaselineResult(name=BUY_AND_HOLD, description=DESCRIPTIONS[BUY_AND_HOLD], stats=hold_stats),
        BaselineResult(
            name=DEFAULT_RULES, description=DESCRIPTIONS[DEFAULT_RULES], stats=rules_stats
        ),
    ]


def default_rules_request(request: UserRequest) -> UserRequest:
    """The same strategy (symbols, capital, interval, limits, fees) deciding by the default rules."""
    body = request.model_dump()
    body["trading_config"] |= {"composer": "rules", "rules": RuleComposerConfig().model_dump()}
    body.pop("llm_model_config", None)
    return UserRequest.model_validate(body)


async def _default_rules_stats(
    run: BacktestRun, spec: BacktestSpec, memo: dict[str, BacktestStats]
) -> BacktestStats:
    request = default_rules_request(run.request)
    if request == run.request and run.stats is not None:
        return run.stats
    window = run.window
    key = f"{request.model_dump_json()} {window.start_ms} {len(run.equity_curve)} {spec.data}"
    if key in memo:
        return memo[key]
    rules_spec = spec.model_copy(
        update={
            "request": request,
            "start_ms": window.start_ms,
            "end_ms": window.at(len(run.equity_curve) - 1),
            "baselines": False,
        }
    )
    rules = await run_backtest(rules_spec)
    assert rules.stats is not None
    memo[key] = rules.stats
    return rules.stats


# --------------------------------------------------------------------------- LLM runs


def check_cost_cap(request: UserRequest, max_cost_usd: float | None) -> None:
    """Refuse ``max_cost_usd`` for a model without a price: every call of such a model costs
    'unknown', nothing adds up, and the cap could never stop the run. A price given with the
    model (``llm_model_config.price``, 0 for a local one) makes it countable."""
    if max_cost_usd is None or request.trading_config.composer != "llm":
        return
    cfg = request.llm_model_config
    if cfg.price is None and known_price(cfg.model_id) is None:
        raise ConfigError(
            f"max_cost_usd: model {cfg.model_id!r} has no known price, so what it spends cannot "
            "be counted and the cap could never stop the run; give the model a price "
            "(llm_model_config.price, or a tool's llm_model price_input_per_mtok and "
            "price_output_per_mtok; 0 for a local model), or leave max_cost_usd out"
        )


def _llm_client(
    request: UserRequest, spec: BacktestSpec, client: object | None
) -> CachedLlmClient | None:
    if request.trading_config.composer != "llm":
        return None
    cfg = request.llm_model_config
    cache = ReplyCache(Path(spec.llm_cache_dir) if spec.llm_cache_dir else default_cache_dir())
    return CachedLlmClient(
        cache,
        (lambda: client) if client is not None else lambda: build_client(cfg, resolve_api_key(cfg)),
        provider=cfg.provider,
        base_url=cfg.base_url,
        price=cfg.price,
        max_cost_usd=spec.max_cost_usd,
        close_client=client is None,
    )


def _composer(request: UserRequest, llm: CachedLlmClient | None) -> BaseComposer | None:
    if llm is None:
        return None
    return LlmComposer(request, client=llm)  # type: ignore[arg-type]  # duck-typed client


async def _estimate(
    runtime: StrategyRuntime,
    request: UserRequest,
    window: Window,
    llm: CachedLlmClient | None,
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
        "llm backtest estimate cycles=%d tokens=%d cost_usd=%s (at most %s) first_cached=%s",
        estimate.cycles,
        estimate.total_tokens,
        estimate.cost_usd,
        estimate.max_cost_usd,
        estimate.first_cycle_cached,
    )
    return estimate


async def _first_cached(request: UserRequest, llm: CachedLlmClient, context: object) -> bool:
    """Compose the first cycle against the cache alone: a hit means a re-run."""
    probe = CachedLlmClient(
        llm.cache, client_factory=None, provider=llm.provider, base_url=llm.base_url
    )
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
