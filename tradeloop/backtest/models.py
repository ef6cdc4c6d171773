"""The backtest result models: pydantic only, so the MCP tools can use them as output schemas
without loading the backtest stack (numpy, pandas) before the handshake."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class BacktestStats(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start_ts: int | None
    end_ts: int | None
    points: int
    initial_equity: float
    final_equity: float
    total_return_pct: float
    annual_return_pct: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    max_drawdown_pct: float
    max_drawdown_duration_ms: int
    trades: int
    win_rate_pct: float | None
    profit_factor: float | None
    avg_trade_pct: float | None
    best_trade_pct: float | None
    worst_trade_pct: float | None
    avg_holding_ms: int | None
    fees_paid: float
    exposure_pct: float


class CostEstimate(BaseModel):
    """What an LLM backtest would cost if no reply were cached (one call per cycle, no repairs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    cycles: int
    input_tokens_per_cycle: int
    cached_prompt_tokens_per_cycle: int
    output_tokens_per_cycle: int
    total_tokens: int
    cost_usd: float | None
    """None: the model has no known price (set ``llm_model_config.price``)."""
    max_cost_usd: float | None
    """Upper bound: every reply as long as ``max_tokens``."""
    first_cycle_cached: bool = False
    """The first request is in the cache, so this is most likely a re-run costing close to 0."""


class LlmSpend(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int
    cache_hits: int
    spent_usd: float
    saved_usd: float
    estimate: CostEstimate | None = None
    unpriced_calls: int = 0
    """Calls to a model without a known price; when above 0 the spend is unknown, not 0."""


class BacktestSummary(BaseModel):
    """What a run reports: the tool result of ``run_backtest``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    strategy_name: str | None
    symbols: list[str]
    status: Literal["running", "completed", "stopped", "failed"]
    stop_reason: str | None = None
    cycles_done: int
    cycles_total: int
    error_cycles: int
    start_ms: int
    end_ms: int
    elapsed_s: float
    candles_per_s: float
    stats: BacktestStats | None = None
    llm: LlmSpend | None = None
