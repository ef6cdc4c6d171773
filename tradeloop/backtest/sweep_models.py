"""The results of a parameter sweep: pydantic only, so the MCP tools can use them as output schemas
without loading the backtest stack."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tradeloop.backtest.models import BacktestStats

ParamValue = float | bool


class SweepRow(BaseModel):
    """One parameter set and its statistics over the whole window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    params: dict[str, ParamValue]
    stats: BacktestStats


class WalkForwardFold(BaseModel):
    """One fold: the parameters that scored best in sample, and how they did out of sample."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fold: int
    in_sample_start_ms: int
    in_sample_end_ms: int
    out_of_sample_start_ms: int
    out_of_sample_end_ms: int
    params: dict[str, ParamValue]
    in_sample_metric: float | None
    out_of_sample: BacktestStats


class SweepResult(BaseModel):
    """A sweep's table, best first by ``sort_by``; with walk-forward, only out-of-sample results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: dict[str, list[ParamValue]]
    sort_by: str
    parameter_sets: int
    skipped: list[str]
    """Parameter sets the rules refuse (e.g. a buy threshold above the sell one), with the reason."""
    workers: int
    elapsed_s: float
    rows: list[SweepRow]
    """Every parameter set over the whole window, best first (empty with walk-forward)."""
    walk_forward: list[WalkForwardFold] | None = None
    out_of_sample_return_pct: float | None = None
    """Walk-forward: the folds' out-of-sample returns compounded."""
