"""The app-only tool that gives the dashboard a backtest run's or a comparison's curves and table:
every strategy's equity with buy-and-hold, and the statistics (with confidence intervals for
repeated LLM runs) that ``run_backtest`` and ``compare_strategies`` answered with.

Runs and comparisons are kept in memory (the newest 50 of each) until the server restarts; a
stored backtest still opens as a strategy (``get_chart_series``) after that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tradeloop.backtest.models import BacktestSummary, Comparison
from tradeloop.dashboard import series
from tradeloop.tools._common import Ctx, principal, state
from tradeloop.trading.errors import NotFound

if TYPE_CHECKING:
    from tradeloop.backtest.stats import EquityPoint


class NamedCurve(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    points: list[tuple[int, float]] = Field(description="(ts ms, equity), thinned to 2000.")


class RunSeries(BaseModel):
    """A backtest run or a comparison as the dashboard draws it."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    kind: Literal["backtest", "comparison"]
    initial_capital: float | None
    curves: list[NamedCurve] = Field(
        description="Each strategy's equity, then buy-and-hold's (the first config's symbols)."
    )
    backtest: BacktestSummary | None = Field(
        default=None, description="A backtest's summary: statistics and baselines."
    )
    comparison: Comparison | None = Field(
        default=None, description="A comparison's table: statistics, intervals, regimes."
    )


RunId = Annotated[
    str,
    Field(
        description="A backtest run_id (bt_...) or a comparison_id (cmp_...).",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
    ),
]
HOLD_LABEL = "buy and hold"


async def get_run_series(run_id: RunId, ctx: Ctx) -> RunSeries:
    """Curves and statistics of a backtest run or a comparison, for the dashboard page."""
    backtests, caller = state(ctx).backtests(), principal(ctx)
    done = backtests.comparison(run_id, caller)
    if done is not None:
        return RunSeries(
            run_id=run_id,
            kind="comparison",
            initial_capital=done.initial_capital,
            curves=[_curve(label, points) for label, points in done.curves],
            comparison=done.result,
        )
    try:
        run = backtests.run_of(run_id, caller)
    except NotFound:
        raise NotFound(
            f"no backtest run or comparison {run_id!r} in this server's memory: it keeps the "
            "newest 50 of each until it restarts (a stored run still opens by its run_id as a "
            "strategy)"
        ) from None
    curves = [_curve(run.request.trading_config.strategy_name or run_id, run.equity_curve)]
    if run.hold_curve:
        curves.append(_curve(HOLD_LABEL, run.hold_curve))
    return RunSeries(
        run_id=run_id,
        kind="backtest",
        initial_capital=run.request.trading_config.initial_capital,
        curves=curves,
        backtest=run.summary(),
    )


def _curve(label: str, points: Sequence[EquityPoint]) -> NamedCurve:
    return NamedCurve(label=label, points=series.thin([(p.ts, p.equity) for p in points]))
