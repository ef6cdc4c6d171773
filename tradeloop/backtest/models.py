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
    calmar_ratio: float | None = None
    """Annual return over max drawdown (both in %); None without a drawdown or a year figure."""
    payoff_ratio: float | None = None
    """Average net win over average net loss of the round trips; None without both."""
    turnover: float | None = None
    """Traded notional (every entry and exit) over the initial capital: buy-and-hold is about 2."""


class BaselineResult(BaseModel):
    """A yardstick run on the same candles, window, fees and slippage as the strategy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["buy_and_hold", "default_rules"]
    description: str
    stats: BacktestStats


class LlmDecisions(BaseModel):
    """What an LLM strategy's decisions cost and how many were usable. Tokens and cost count every
    decision, whether its reply was paid now or served from the cache (``LlmSpend`` says which)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decisions: int
    """Cycles the model was asked (each may be two calls: the answer and one repair)."""
    skipped: int
    """Decisions with no usable plan even after the repair turn (``llm_invalid``): no trade."""
    repaired: int
    """Decisions whose first reply was invalid and whose repair was used."""
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    """None when the model has no known price."""
    cost_per_decision_usd: float | None


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
    llm_decisions: LlmDecisions | None = None
    baselines: list[BaselineResult] = []
    """Buy-and-hold and the default rules strategy over the same window (a completed run)."""
    warnings: list[str] = []
    """Honesty checks, e.g. a window that starts before the model's training cutoff."""


# --------------------------------------------------------------------------- comparisons


class RegimeSplit(BaseModel):
    """Compounded returns over the cycles of one market regime."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regime: str
    """``up`` (buy-and-hold gained more than 10 % over the trailing 30 days), ``down`` (lost
    more than 10 %) or ``between``."""
    share_pct: float
    """Share of the labelled cycles in this regime."""
    returns_pct: dict[str, float | None]
    """Label -> compounded return over this regime's steps; None when there were none."""


class MetricCI(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    low: float
    high: float
    n: int
    """Runs that had this metric (e.g. Sharpe needs two points)."""


class ComparedStrategy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    composer: str
    model: str | None
    status: str
    runs: int
    stats: BacktestStats
    """The first run's statistics."""
    buy_and_hold: BacktestStats
    """Buy-and-hold of this strategy's own symbols over its window."""
    intervals: dict[str, MetricCI] = {}
    """Mean and 95 % confidence interval per metric over the runs (repeated LLM strategies)."""
    beat_buy_and_hold: int
    """Runs whose total return beat buy-and-hold's."""
    llm_decisions: list[LlmDecisions] = []
    """Per run: decisions, skipped, repaired, tokens, cost."""
    warnings: list[str] = []


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start_ms: int
    end_ms: int
    repeats: int
    strategies: list[ComparedStrategy]
    buy_and_hold: BacktestStats
    default_rules: BacktestStats
    regimes: list[RegimeSplit]
    warnings: list[str] = []
