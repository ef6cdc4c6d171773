"""Parameter sweeps of a rule strategy: every combination of the given values of the rules
composer's parameters over the same candles, one process per core, and walk-forward validation.

    grid = parse_grid(["rsi_buy=20:40:5", "rsi_sell=60,70,80"])   # names: a rules field or a prefix
    result = run_sweep(spec, grid, sort_by="sharpe", walk_forward=4)

Each parameter set is a normal backtest (``run_backtest``, fast-forward on, no baselines). Workers
keep the candle files and indicator frames they read, so a sweep reads each file once per process.
Walk-forward splits the window into ``folds + 1`` equal parts; fold ``k`` picks the best set on part
``k - 1`` (in sample) and reports only its result on part ``k`` (out of sample), so the table is
not flattered by having chosen the parameters on the very candles it reports.
An LLM strategy cannot be swept: its decisions are model replies, not functions of parameters.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from itertools import product
from typing import Any

from pydantic import ValidationError

from tradeloop.backtest.models import BacktestStats
from tradeloop.backtest.runner import run_backtest, spec_window
from tradeloop.backtest.sweep_models import ParamValue, SweepResult, SweepRow, WalkForwardFold
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.features.warmup import warm_up
from tradeloop.trading.models import RuleComposerConfig, UserRequest

MAX_PARAMETER_SETS = 10_000
MAX_VALUES_PER_PARAMETER = 1_000
CHUNKS_PER_WORKER = 4
"""Jobs are handed out in this many chunks per worker: few enough to amortize the hand-over, enough
that a worker finishing early takes more."""

SWEEPABLE: dict[str, type] = {
    name: bool if field.annotation is bool else float
    for name, field in RuleComposerConfig.model_fields.items()
    if name != "interval"
}
"""The rules composer's parameters a sweep can vary, with their kind."""

METRICS: dict[str, tuple[str, bool]] = {
    "sharpe": ("sharpe_ratio", True),
    "sortino": ("sortino_ratio", True),
    "return": ("total_return_pct", True),
    "annual_return": ("annual_return_pct", True),
    "drawdown": ("max_drawdown_pct", False),
    "profit_factor": ("profit_factor", True),
    "win_rate": ("win_rate_pct", True),
    "trades": ("trades", True),
    "final_equity": ("final_equity", True),
}
"""``sort_by`` names: the ``BacktestStats`` field and whether higher is better."""

Grid = dict[str, list[ParamValue]]
Job = tuple[int, dict[str, ParamValue], int | None, int | None]
"""(job id, parameters, start ms, end ms)."""


# --------------------------------------------------------------------------- parsing


def parse_grid(items: Iterable[str] | Mapping[str, str]) -> Grid:
    """``NAME=START:STOP:STEP`` (inclusive) or ``NAME=V1,V2,...`` per parameter; a name is a rules
    field (``rsi_buy_below``) or an unambiguous prefix of one (``rsi_buy``)."""
    pairs = items.items() if isinstance(items, Mapping) else (_split(item) for item in items)
    grid: Grid = {}
    for raw_name, text in pairs:
        name = resolve_name(raw_name)
        if name in grid:
            raise ConfigError(f"sweep: {name} is given twice")
        grid[name] = parse_values(name, text)
    if not grid:
        raise ConfigError("sweep: no parameter given (NAME=START:STOP:STEP or NAME=V1,V2)")
    count = math.prod(len(v) for v in grid.values())
    if count > MAX_PARAMETER_SETS:
        raise ConfigError(f"sweep: {count:,} parameter sets, more than {MAX_PARAMETER_SETS:,}")
    return grid


def _split(item: str) -> tuple[str, str]:
    name, sep, text = item.partition("=")
    if not sep or not name.strip() or not text.strip():
        raise ConfigError(f"sweep: {item!r} is not NAME=START:STOP:STEP or NAME=V1,V2")
    return name.strip(), text.strip()


def resolve_name(name: str) -> str:
    if name in SWEEPABLE:
        return name
    matches = [known for known in SWEEPABLE if known.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(SWEEPABLE)
    why = f"matches {', '.join(matches)}" if matches else "is not a rules parameter"
    raise ConfigError(f"sweep: {name!r} {why}; the rules composer's parameters are: {known}")


def parse_values(name: str, text: str) -> list[ParamValue]:
    if SWEEPABLE[name] is bool:
        return [_boolean(name, word) for word in text.split(",")]
    if ":" in text:
        return _range(name, text)
    values = [_number(name, word) for word in text.split(",")]
    if len(values) > MAX_VALUES_PER_PARAMETER:
        raise ConfigError(f"sweep: {name} has more than {MAX_VALUES_PER_PARAMETER} values")
    return values


def _range(name: str, text: str) -> list[ParamValue]:
    parts = text.split(":")
    if len(parts) != 3:
        raise ConfigError(f"sweep: {name}={text} is not START:STOP:STEP")
    start, stop, step = (_decimal(name, p) for p in parts)
    if step <= 0 or stop < start:
        raise ConfigError(f"sweep: {name}={text} needs STEP > 0 and STOP >= START")
    count = int((stop - start) / step) + 1
    if count > MAX_VALUES_PER_PARAMETER:
        raise ConfigError(f"sweep: {name}={text} gives more than {MAX_VALUES_PER_PARAMETER} values")
    return [float(start + i * step) for i in range(count)]  # exact decimal steps: 0.1 stays 0.1


def _decimal(name: str, word: str) -> Decimal:
    try:
        value = Decimal(word.strip())
    except InvalidOperation:
        raise ConfigError(f"sweep: {name}: {word.strip()!r} is not a number") from None
    if not value.is_finite():
        raise ConfigError(f"sweep: {name}: {word.strip()!r} is not a finite number")
    return value


def _number(name: str, word: str) -> float:
    return float(_decimal(name, word))


def _boolean(name: str, word: str) -> bool:
    value = word.strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"sweep: {name} takes true or false, not {word.strip()!r}")
    return value == "true"


def metric_of(sort_by: str) -> tuple[str, bool]:
    if sort_by in METRICS:
        return METRICS[sort_by]
    raise ConfigError(f"sort_by: {sort_by!r} is not one of {', '.join(METRICS)}")


def with_params(request: UserRequest, params: Mapping[str, ParamValue]) -> UserRequest:
    """The request with these rules parameters; ConfigError naming the reason if the rules refuse."""
    body = request.model_dump()
    body["trading_config"]["rules"] |= dict(params)
    try:
        return UserRequest.model_validate(body)
    except ValidationError as exc:
        reasons = "; ".join(error["msg"] for error in exc.errors())
        raise ConfigError(f"{_label(params)}: {reasons}") from None


def _label(params: Mapping[str, ParamValue]) -> str:
    return " ".join(
        f"{k}={v:g}" if not isinstance(v, bool) else f"{k}={v}" for k, v in params.items()
    )


# --------------------------------------------------------------------------- running


def run_sweep(
    spec: Any,
    grid: Grid,
    *,
    sort_by: str = "sharpe",
    walk_forward: int | None = None,
    workers: int | None = None,
) -> SweepResult:
    """Every parameter set of ``grid`` over ``spec`` (a ``BacktestSpec``), across processes."""
    started = time.perf_counter()
    request = spec.request
    if request.trading_config.composer == "llm":
        raise ConfigError(
            "sweep: an llm strategy cannot be swept: its decisions are model replies (one paid call "
            "per cycle and parameter set), not functions of the rules parameters; use composer "
            "'rules'"
        )
    metric, higher = metric_of(sort_by)
    sets, skipped = _valid_sets(request, grid)
    if not sets:
        raise ConfigError("sweep: no valid parameter set: " + "; ".join(skipped[:5]))
    workers = max(1, min(workers or os.cpu_count() or 1, len(sets)))
    base = spec.model_copy(update={"baselines": False, "fast_forward": True})
    if walk_forward:
        folds, oos_return = _walk_forward(base, sets, walk_forward, metric, higher, workers)
        rows: list[SweepRow] = []
    else:
        stats = _execute(base, [(i, p, None, None) for i, p in enumerate(sets)], workers)
        rows = sorted(
            (SweepRow(params=p, stats=stats[i]) for i, p in enumerate(sets)),
            key=lambda row: _rank(row.stats, metric, higher),
        )
        folds, oos_return = None, None
    return SweepResult(
        grid=grid,
        sort_by=sort_by,
        parameter_sets=len(sets),
        skipped=skipped,
        workers=workers,
        elapsed_s=round(time.perf_counter() - started, 3),
        rows=rows,
        walk_forward=folds,
        out_of_sample_return_pct=oos_return,
    )


async def run_sweep_async(spec: Any, grid: Grid, **options: Any) -> SweepResult:
    """``run_sweep`` off the event loop (the pool is waited for in a thread)."""
    return await asyncio.to_thread(run_sweep, spec, grid, **options)


def best_spec(spec: Any, result: SweepResult) -> Any:
    """The run that stands for a sweep: the best set over the whole window or, with walk-forward,
    the last fold's chosen set over its out-of-sample part."""
    if result.walk_forward:
        last = result.walk_forward[-1]
        return spec.model_copy(
            update={
                "request": with_params(spec.request, last.params),
                "start_ms": last.out_of_sample_start_ms,
                "end_ms": last.out_of_sample_end_ms,
            }
        )
    return spec.model_copy(update={"request": with_params(spec.request, result.rows[0].params)})


def _valid_sets(request: UserRequest, grid: Grid) -> tuple[list[dict[str, ParamValue]], list[str]]:
    sets, skipped = [], []
    for values in product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        try:
            with_params(request, params)
        except ConfigError as exc:
            skipped.append(str(exc))
            continue
        sets.append(params)
    return sets, skipped


def _rank(stats: BacktestStats, metric: str, higher: bool) -> tuple[bool, float]:
    value = getattr(stats, metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True, 0.0
    return False, -value if higher else value


def _walk_forward(
    spec: Any,
    sets: list[dict[str, ParamValue]],
    folds: int,
    metric: str,
    higher: bool,
    workers: int,
) -> tuple[list[WalkForwardFold], float]:
    parts = _parts(spec, folds)
    jobs = [
        (fold * len(sets) + i, params, *parts[fold])
        for fold in range(folds)
        for i, params in enumerate(sets)
    ]
    in_sample = _execute(spec, jobs, workers)
    chosen = []
    for fold in range(folds):
        scored = [(in_sample[fold * len(sets) + i], p) for i, p in enumerate(sets)]
        stats, params = min(scored, key=lambda sp: _rank(sp[0], metric, higher))
        chosen.append((params, getattr(stats, metric)))
    oos_jobs = [(fold, chosen[fold][0], *parts[fold + 1]) for fold in range(folds)]
    out = _execute(spec, oos_jobs, workers)
    result = [
        WalkForwardFold(
            fold=fold + 1,
            in_sample_start_ms=parts[fold][0],
            in_sample_end_ms=parts[fold][1],
            out_of_sample_start_ms=parts[fold + 1][0],
            out_of_sample_end_ms=parts[fold + 1][1],
            params=chosen[fold][0],
            in_sample_metric=chosen[fold][1],
            out_of_sample=out[fold],
        )
        for fold in range(folds)
    ]
    growth = math.prod(1 + f.out_of_sample.total_return_pct / 100 for f in result)
    return result, (growth - 1) * 100


def _parts(spec: Any, folds: int) -> list[tuple[int, int]]:
    """``folds + 1`` consecutive equal parts of the run's cycles, as (first, last) cycle times."""
    if folds < 1:
        raise ConfigError("walk_forward: needs at least 1 fold")
    window = spec_window(spec)
    n = window.cycles
    bounds = [round(i * n / (folds + 1)) for i in range(folds + 2)]
    if min(b - a for a, b in zip(bounds, bounds[1:], strict=False)) < 2:
        raise ConfigError(
            f"walk_forward: {folds} folds need at least {2 * (folds + 1)} cycles, the window has {n}"
        )
    return [(window.at(a), window.at(b - 1)) for a, b in zip(bounds, bounds[1:], strict=False)]


def _execute(spec: Any, jobs: Sequence[Job], workers: int) -> dict[int, BacktestStats]:
    """Run the jobs (in this process when one worker is enough); their stats by job id."""
    if workers <= 1 or len(jobs) <= 1:
        with ThreadPoolExecutor(1) as thread:  # its own event loop, even if this thread has one
            return dict(thread.submit(_run_jobs, spec, list(jobs)).result())
    count = min(len(jobs), workers * CHUNKS_PER_WORKER)
    chunks = [list(jobs[i::count]) for i in range(count)]
    stats: dict[int, BacktestStats] = {}
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(), initializer=_quiet_worker
    ) as pool:
        for done in pool.map(_run_jobs, [spec] * len(chunks), chunks):
            stats.update(done)
    return stats


def _context() -> Any:
    """Fork a process that has no other thread (the CLI: workers inherit its imports and warm
    indicators); from a threaded one (the server), a fork server that preloaded the backtest
    stack, since forking threads can deadlock; spawn where neither exists."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and threading.active_count() == 1 and "fork" in methods:
        warm_up()
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tradeloop.backtest.runner"])
        return context
    return multiprocessing.get_context("spawn")


def _quiet_worker() -> None:
    """Workers log warnings only: one INFO line per backtest would bury the sweep's table."""
    logging.getLogger("tradeloop").setLevel(logging.WARNING)


def _run_jobs(spec: Any, jobs: list[Job]) -> list[tuple[int, BacktestStats]]:
    """A worker's share: one backtest per job, in this process."""
    warm_up()
    return asyncio.run(_run_all(spec, jobs))


async def _run_all(spec: Any, jobs: list[Job]) -> list[tuple[int, BacktestStats]]:
    out = []
    for job_id, params, start_ms, end_ms in jobs:
        update: dict[str, Any] = {"request": with_params(spec.request, params)}
        if start_ms is not None:
            update |= {"start_ms": start_ms, "end_ms": end_ms}
        run = await run_backtest(spec.model_copy(update=update))
        assert run.stats is not None
        out.append((job_id, run.stats))
    return out
