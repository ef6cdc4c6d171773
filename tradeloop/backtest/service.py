"""What the MCP tools call: ``run_backtest`` (see ``runner``) and ``equity_chart_png`` for a backtest
run or any stored strategy, running or finished.

    runs = BacktestRuns()                                   # app state, beside the StrategyService
    run = await run_backtest(spec, progress=notify, runs=runs)
    png = await equity_chart_png(run.run_id, runs=runs, service=service)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tradeloop.backtest.chart import equity_chart_png as draw_equity_chart
from tradeloop.backtest.runner import BacktestRun, BacktestRuns, run_backtest
from tradeloop.backtest.stats import EquityPoint
from tradeloop.trading.errors import NotFound
from tradeloop.trading.models import TradeHistoryEntry

if TYPE_CHECKING:
    from tradeloop.services.strategies import StrategyService

__all__ = ["backtest_chart_png", "equity_chart_png", "run_backtest", "strategy_chart_png"]
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


async def strategy_chart_png(service: StrategyService, strategy_id: str) -> bytes:
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
    strategy_id: str, *, runs: BacktestRuns | None = None, service: StrategyService | None = None
) -> bytes:
    """The equity chart of a backtest run or a comparison in ``runs``, or else a strategy in
    ``service``."""
    if runs is not None and strategy_id in runs.comparisons:
        from tradeloop.backtest.chart import comparison_chart_png
        from tradeloop.backtest.compare import ComparisonRun

        done = runs.comparisons[strategy_id]
        assert isinstance(done, ComparisonRun)
        return comparison_chart_png(
            done.curves, title=f"comparison {strategy_id}", initial_capital=done.initial_capital
        )
    if runs is not None:
        try:
            return backtest_chart_png(runs.get(strategy_id))
        except NotFound:
            if service is None:
                raise
    if service is None:
        raise NotFound(f"no backtest run or strategy {strategy_id!r}")
    return await strategy_chart_png(service, strategy_id)


async def _stored_curve(service: StrategyService, strategy_id: str) -> AsyncIterator[EquityPoint]:
    cursor: str | None = None
    while True:
        page = await service.list_cycles(strategy_id, cursor=cursor, limit=PAGE)
        for record in page.items:
            yield EquityPoint(ts=record.ts, equity=record.equity)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _stored_trades(
    service: StrategyService, strategy_id: str
) -> AsyncIterator[TradeHistoryEntry]:
    cursor: str | None = None
    while True:
        page = await service.list_trades(strategy_id, cursor=cursor, limit=PAGE)
        for trade in page.items:
            yield trade
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
