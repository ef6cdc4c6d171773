"""Several strategy configs (prompts, templates, models, rules) over the same candles and window,
side by side with buy-and-hold and the default rules strategy.

LLM strategies can be repeated (``repeats`` K > 1, each run with the reply cache off, so the
model answers afresh): each metric is then reported as its mean with a 95 % Student-t confidence
interval over the K runs, with how many of the K beat buy-and-hold. Rule strategies are
deterministic and run once. Honesty checks come with the result: training-cutoff warnings,
skipped and repaired decisions, and a per-regime split of returns.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradeloop.backtest.confidence import mean_ci
from tradeloop.backtest.honesty import regime_split
from tradeloop.backtest.models import (
    BacktestStats,
    ComparedStrategy,
    Comparison,
    MetricCI,
)
from tradeloop.backtest.runner import (
    DEFAULT_WARMUP_CANDLES,
    BacktestRun,
    BacktestSpec,
    add_baselines,
    check_cost_cap,
    run_backtest,
)
from tradeloop.backtest.stats import EquityPoint
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import UserRequest

MAX_STRATEGIES = 8
MAX_REPEATS = 30
CI_METRICS = (
    "total_return_pct",
    "annual_return_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_pct",
    "exposure_pct",
    "turnover",
    "trades",
    "win_rate_pct",
    "payoff_ratio",
    "fees_paid",
)
Progress = Callable[[str, int, int], Awaitable[None]]
"""``await progress(label, run_index, runs)`` before each run."""


@dataclass
class ComparisonRun:
    result: Comparison
    curves: list[tuple[str, list[EquityPoint]]] = field(default_factory=list)
    """Each strategy's first-run equity curve, then buy-and-hold's."""
    initial_capital: float | None = None


async def compare(
    entries: Sequence[tuple[str, UserRequest]],
    data: list[str],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    warmup_candles: int | None = None,
    repeats: int = 1,
    llm_cache_dir: str | None = None,
    max_cost_usd: float | None = None,
    llm_client_for: Callable[[str, int], object | None] | None = None,
    progress: Progress | None = None,
) -> ComparisonRun:
    """Run every entry (``(label, request)``) over ``data`` and compare them. ``llm_client_for
    (label, run_index)``: the SDK client an LLM run calls on cache misses (tests, fakes)."""
    _check(entries, repeats)
    for _, request in entries:
        check_cost_cap(request, max_cost_usd)  # before any run: none is half done
    memo: dict[str, BacktestStats] = {}
    strategies: list[ComparedStrategy] = []
    curves: list[tuple[str, list[EquityPoint]]] = []
    first_run: BacktestRun | None = None
    for label, request in entries:
        is_llm = request.trading_config.composer == "llm"
        runs_wanted = repeats if is_llm else 1
        runs: list[BacktestRun] = []
        for index in range(runs_wanted):
            if progress is not None:
                await progress(label, index, runs_wanted)
            with tempfile.TemporaryDirectory(prefix="tradeloop-repeat-") as fresh:
                cache = fresh if is_llm and repeats > 1 else llm_cache_dir
                spec = BacktestSpec(
                    request=request,
                    data=data,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    max_cost_usd=max_cost_usd,
                    llm_cache_dir=cache,
                    baselines=False,
                    warmup_candles=warmup_candles or DEFAULT_WARMUP_CANDLES,
                )
                client = llm_client_for(label, index) if llm_client_for else None
                run = await run_backtest(spec, llm_client=client)
            await add_baselines(run, spec, memo)
            runs.append(run)
        strategies.append(_compared(label, request, runs))
        curves.append((label, list(runs[0].equity_curve)))
        first_run = first_run or runs[0]
    assert first_run is not None
    hold, rules = first_run.baselines
    curves.append(("buy and hold", list(first_run.hold_curve)))
    return ComparisonRun(
        result=Comparison(
            start_ms=first_run.window.start_ms,
            end_ms=first_run.equity_curve[-1].ts
            if first_run.equity_curve
            else first_run.window.end_ms,
            repeats=repeats,
            strategies=strategies,
            buy_and_hold=hold.stats,
            default_rules=rules.stats,
            regimes=regime_split(first_run.hold_curve, curves),
            warnings=_warnings(entries, strategies),
        ),
        curves=curves,
        initial_capital=entries[0][1].trading_config.initial_capital,
    )


def _check(entries: Sequence[tuple[str, UserRequest]], repeats: int) -> None:
    if not entries:
        raise ConfigError("configs: at least one strategy config to compare")
    if len(entries) > MAX_STRATEGIES:
        raise ConfigError(f"configs: at most {MAX_STRATEGIES} strategies per comparison")
    labels = [label for label, _ in entries]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"configs: labels must be unique (got {labels})")
    if not 1 <= repeats <= MAX_REPEATS:
        raise ConfigError(f"repeats: 1 to {MAX_REPEATS} (got {repeats})")


def _compared(label: str, request: UserRequest, runs: list[BacktestRun]) -> ComparedStrategy:
    first = runs[0]
    assert first.stats is not None and first.baselines
    hold = first.baselines[0].stats
    beat = sum(
        1
        for run in runs
        if run.stats is not None
        and run.baselines
        and run.stats.total_return_pct > run.baselines[0].stats.total_return_pct
    )
    cfg = request.trading_config
    return ComparedStrategy(
        label=label,
        composer=cfg.composer,
        model=request.llm_model_config.model_id if cfg.composer == "llm" else None,
        status=first.status if all(r.status == first.status for r in runs) else "mixed",
        runs=len(runs),
        stats=first.stats,
        buy_and_hold=hold,
        intervals=intervals([r.stats for r in runs if r.stats is not None])
        if len(runs) > 1
        else {},
        beat_buy_and_hold=beat,
        llm_decisions=[r.llm_decisions for r in runs if r.llm_decisions is not None],
        warnings=sorted({w for r in runs for w in r.warnings}),
    )


def intervals(stats: Sequence[BacktestStats]) -> dict[str, MetricCI]:
    """Each metric's mean and 95 % Student-t interval over runs (metrics some run lacks use the
    runs that have them)."""
    out: dict[str, MetricCI] = {}
    for metric in CI_METRICS:
        values = [float(v) for s in stats if (v := getattr(s, metric)) is not None]
        if values:
            ci = mean_ci(values)
            out[metric] = MetricCI(mean=ci.mean, low=ci.low, high=ci.high, n=ci.n)
    return out


def _warnings(
    entries: Sequence[tuple[str, UserRequest]], strategies: Sequence[ComparedStrategy]
) -> list[str]:
    out = [f"{s.label}: {w}" for s in strategies for w in s.warnings]
    symbol_sets = {tuple(sorted(r.trading_config.symbols)) for _, r in entries}
    if len(symbol_sets) > 1:
        out.append(
            "the configs trade different symbols: the buy-and-hold column and chart line are the "
            "first config's; each strategy's 'beat buy-and-hold' uses its own symbols"
        )
    for s in strategies:
        skipped = sum(d.skipped for d in s.llm_decisions)
        repaired = sum(d.repaired for d in s.llm_decisions)
        decisions = sum(d.decisions for d in s.llm_decisions)
        if decisions and (skipped or repaired):
            out.append(
                f"{s.label}: {skipped} of {decisions} LLM decisions skipped as invalid, "
                f"{repaired} repaired"
            )
    return out


def metric_cell(strategy: ComparedStrategy, metric: str, fmt: Callable[[Any], str]) -> str:
    """``mean [low, high]`` for a repeated strategy, else the single run's value."""
    ci = strategy.intervals.get(metric)
    if ci is None:
        return fmt(getattr(strategy.stats, metric))
    return f"{fmt(ci.mean)} [{fmt(ci.low)}, {fmt(ci.high)}]"
