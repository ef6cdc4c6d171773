"""Backtests as a service: it runs them (one call: sweep, run, store) and owns their runs, kept in
memory (the newest 50, and every comparison) so their charts can be drawn while they run.

    backtests = BacktestService(strategies, replay_dir)      # one per server, in the app state
    done = await backtests.run(request, start_ms=t0, progress=notify)   # stored under done.run.run_id
    png = await backtests.chart_png(done.run.run_id)

A finished run is stored as a stopped strategy through ``StrategyService.import_backtest``, so the
history and digest tools read it like any strategy. ``equity_chart_png`` draws a backtest run, a
comparison or any stored strategy, running or finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tradeloop.backtest.chart import comparison_chart_png
from tradeloop.backtest.chart import equity_chart_png as draw_equity_chart
from tradeloop.backtest.compare import ComparisonRun, Progress, compare
from tradeloop.backtest.runner import (
    BacktestRun,
    BacktestRuns,
    BacktestSpec,
    ProgressCallback,
    run_backtest,
)
from tradeloop.backtest.stats import EquityPoint
from tradeloop.backtest.sweep import best_spec, parse_grid, run_sweep_async
from tradeloop.backtest.sweep_models import SweepResult
from tradeloop.services.owned import OwnedStrategies
from tradeloop.services.principals import Principal
from tradeloop.trading.errors import ConfigError, NotFound
from tradeloop.trading.models import TradeHistoryEntry, UserRequest
from tradeloop.trading.utils import new_id

if TYPE_CHECKING:
    from tradeloop.services.strategies import StrategyService

__all__ = [
    "BacktestService",
    "Backtested",
    "backtest_chart_png",
    "equity_chart_png",
    "strategy_chart_png",
]

PAGE = 500


def backtest_chart_png(run: BacktestRun) -> bytes:
    """The chart of a backtest run, finished or still running (what it has so far)."""
    cfg = run.request.trading_config
    name = cfg.strategy_name or ", ".join(cfg.symbols)
    status = "" if run.status == "completed" else f" [{run.status}]"
    return draw_equity_chart(
        list(run.equity_curve),
        list(run.trades),
        title=f"backtest {run.run_id}: {name}{status}",
        initial_capital=cfg.initial_capital,
        benchmarks=[("buy and hold", list(run.hold_curve))] if run.hold_curve else (),
    )


async def strategy_chart_png(service: OwnedStrategies, strategy_id: str) -> bytes:
    """The chart of a stored strategy (live, paper or replay), from its stored cycles and trades."""
    info = await service.get(strategy_id)
    curve = [point async for point in _stored_curve(service, strategy_id)]
    trades = [trade async for trade in _stored_trades(service, strategy_id)]
    return draw_equity_chart(
        curve,
        trades,
        title=f"{info.name} ({strategy_id}, {info.status.value})",
        initial_capital=info.initial_capital,
    )


async def equity_chart_png(
    strategy_id: str,
    *,
    runs: BacktestRuns | None = None,
    service: OwnedStrategies | None = None,
) -> bytes:
    """The equity chart of a backtest run or a comparison in ``runs``, or else a strategy in
    ``service``: only those of ``service``'s principal (without a service, any run)."""
    owner = None if service is None else service.principal.owner_filter
    if runs is not None:
        done = runs.comparison(strategy_id, owner=owner)
        if done is not None:
            assert isinstance(done, ComparisonRun)
            return comparison_chart_png(
                done.curves, title=f"comparison {strategy_id}", initial_capital=done.initial_capital
            )
        try:
            return backtest_chart_png(runs.get(strategy_id, owner=owner))
        except NotFound:
            if service is None:
                raise
    if service is None:
        raise NotFound(f"no backtest run or strategy {strategy_id!r}")
    return await strategy_chart_png(service, strategy_id)


async def _stored_curve(service: OwnedStrategies, strategy_id: str) -> AsyncIterator[EquityPoint]:
    cursor: str | None = None
    while True:
        page = await service.list_cycles(strategy_id, cursor=cursor, limit=PAGE)
        for record in page.items:
            yield EquityPoint(ts=record.ts, equity=record.equity)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _stored_trades(
    service: OwnedStrategies, strategy_id: str
) -> AsyncIterator[TradeHistoryEntry]:
    cursor: str | None = None
    while True:
        page = await service.list_trades(strategy_id, cursor=cursor, limit=PAGE)
        for trade in page.items:
            yield trade
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@dataclass(frozen=True)
class Backtested:
    """A finished, stored run; with a sweep, the table of every parameter set (the run is the
    best set's)."""

    run: BacktestRun
    sweep: SweepResult | None = None


class BacktestService:
    """Runs backtests over the server's replay directory and owns their runs. Each run and
    comparison belongs to the principal that asked for it; only that principal finds it."""

    def __init__(
        self,
        strategies: Callable[[], Awaitable[StrategyService]],
        replay_dir: Path | None,
    ) -> None:
        self._strategies = strategies
        self._replay_dir = replay_dir
        self.runs = BacktestRuns()

    def _data(self) -> list[str]:
        if self._replay_dir is None:
            raise ConfigError(
                "backtests need historical candles: the operator starts the server with "
                "--replay DIR (or TRADELOOP_REPLAY_DIR) pointing at candle CSV files"
            )
        return [str(self._replay_dir)]

    async def run(
        self,
        request: UserRequest,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        warmup_candles: int = 100,
        max_cost_usd: float | None = None,
        sweep: Mapping[str, str] | None = None,
        sort_by: str = "sharpe",
        walk_forward: int | None = None,
        progress: ProgressCallback | None = None,
        principal: Principal,
    ) -> Backtested:
        """Run ``request`` from ``start_ms`` to ``end_ms`` (None: where the data starts or ends)
        and store it as a stopped strategy under its run id; the run is listed in ``runs`` from
        its start. ``sweep``: rules parameters to vary (``NAME: START:STOP:STEP`` or a comma
        list), ranked by ``sort_by``; the run is then the best set's (see ``best_spec``). The run
        and its stored strategy are ``principal``'s."""
        spec = BacktestSpec(
            request=request,
            data=self._data(),
            start_ms=start_ms,
            end_ms=end_ms,
            warmup_candles=warmup_candles,
            max_cost_usd=max_cost_usd,
        )
        swept = None
        if sweep is not None:
            grid = parse_grid(sweep)
            swept = await run_sweep_async(spec, grid, sort_by=sort_by, walk_forward=walk_forward)
            spec = best_spec(spec, swept)
        strategies = await self._strategies()  # before the run: a closed store fails at once
        run_id = new_id("bt")
        self.runs.own(run_id, principal.name)
        run = await run_backtest(
            spec, progress=progress, runs=self.runs, run_id=run_id, storable=True
        )
        await strategies.import_backtest(run, owner=principal.name)
        return Backtested(run=run, sweep=swept)

    async def compare(
        self,
        entries: Sequence[tuple[str, UserRequest]],
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        repeats: int = 1,
        max_cost_usd: float | None = None,
        progress: Progress | None = None,
        principal: Principal,
    ) -> tuple[str, ComparisonRun]:
        """Compare ``entries`` (``(label, request)``) over the same window (see ``compare``);
        the comparison is kept under the returned id for its chart."""
        done = await compare(
            entries,
            self._data(),
            start_ms=start_ms,
            end_ms=end_ms,
            repeats=repeats,
            max_cost_usd=max_cost_usd,
            progress=progress,
        )
        comparison_id = new_id("cmp")
        self.runs.own(comparison_id, principal.name)
        self.runs.add_comparison(comparison_id, done)
        return comparison_id, done

    def comparison(self, comparison_id: str, principal: Principal) -> ComparisonRun | None:
        """``principal``'s finished comparison still kept in memory, or None."""
        done = self.runs.comparison(comparison_id, owner=principal.owner_filter)
        return done if isinstance(done, ComparisonRun) else None

    def run_of(self, run_id: str, principal: Principal) -> BacktestRun:
        """``principal``'s run kept in memory; ``NotFound`` for another's as for an unknown one."""
        return self.runs.get(run_id, owner=principal.owner_filter)

    async def chart_png(self, chart_id: str, principal: Principal) -> bytes:
        """The equity chart of ``principal``'s run, comparison or stored strategy (see
        ``equity_chart_png``)."""
        strategies = OwnedStrategies(await self._strategies(), principal)
        return await equity_chart_png(chart_id, runs=self.runs, service=strategies)
