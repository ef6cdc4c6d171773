"""The pydantic results of every tool: each becomes the tool's output schema and structured content.

Timestamps are epoch milliseconds (``*_ms`` / ``ts``) with an ISO-8601 UTC twin where a person is
likely to read them. Money is in the quote currency (USDT).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tradeloop.backtest.models import BacktestSummary
from tradeloop.backtest.sweep_models import SweepResult
from tradeloop.tools._hold import BuyAndHold
from tradeloop.trading.models import (
    Constraints,
    CycleResult,
    CycleStatus,
    FeatureVector,
    LevelAdjustment,
    PortfolioView,
    PositionSnapshot,
    StrategyStatus,
    TradeDigest,
    TradeHistoryEntry,
)


def iso(ts_ms: int | None) -> str | None:
    if ts_ms is None:
        return None
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


# --------------------------------------------------------------------------- strategies


class StrategyConfig(_Result):
    """The normalized configuration a strategy runs with."""

    symbols: list[str] = Field(description="Canonical BASE-QUOTE symbols.")
    initial_capital: float
    decide_interval: int = Field(description="Seconds between decision cycles.")
    max_leverage: float
    max_positions: int
    composer: Literal["rules", "llm"]
    template: str = Field(description="Strategy prompt template (llm composer).")
    strategy_prompt: str | None = Field(default=None, description="Custom strategy prompt, if any.")
    feature_intervals: list[str] = Field(description="Candle intervals the features use.")
    candle_lookback: int
    exchange: str
    market_type: Literal["spot", "perpetual"]
    trading_mode: Literal["paper", "live"]
    fee_bps: float
    llm_model: str | None = Field(default=None, description="Model id when the composer is llm.")
    llm_provider: Literal["anthropic", "openai"] | None = Field(
        default=None, description="Model provider when the composer is llm."
    )
    llm_base_url: str | None = Field(
        default=None, description="The model API's URL when not the provider's default."
    )
    max_drawdown_pct: float | None = None
    daily_loss_limit: float | None = None
    max_order_value: float | None = None
    rules: dict[str, Any] | None = Field(
        default=None,
        description="The rules composer's thresholds (rsi_buy_below, rsi_sell_above, "
        "position_size_pct, allow_short, trend_filter, interval) when it decides.",
    )


class StrategySummaryView(_Result):
    """One strategy as list_strategies shows it."""

    strategy_id: str
    name: str
    status: StrategyStatus
    reason: str | None = Field(
        default=None, description="Why it is in this status (errors, stops)."
    )
    trading_mode: Literal["paper", "live"]
    data: Literal["live", "replay"] = Field(
        description="'replay': runs on replayed historical candles on a simulated clock."
    )
    replay: bool = Field(description="True when the strategy runs on replayed historical data.")
    symbols: list[str]
    decide_interval: int
    equity: float
    initial_capital: float
    pnl: float = Field(description="Equity minus initial capital (fees included).")
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float
    total_return_pct: float
    open_positions: int
    cycles: int
    consecutive_failures: int
    last_cycle_ts: int | None = None
    last_cycle: str | None = None
    next_run_ms: int | None = Field(default=None, description="Wall-clock time of the next run.")
    next_run: str | None = None
    owner_replica: str | None = Field(
        default=None,
        description="Replicas sharing a PostgreSQL database: the one running this strategy "
        "(host:pid:tag). None when none holds it (not running, or between owners) and on SQLite, "
        "where the one server process runs every strategy.",
    )
    lease_expires_ms: int | None = Field(
        default=None,
        description="When the owner's lease runs out unless renewed (every third of the lease "
        "time); in the past: that replica stopped renewing, another takes the strategy over.",
    )
    lease_expires: str | None = None


class ReplayView(_Result):
    data_dir: str = Field(
        description="Folder of the replayed candle files (absolute, as the server resolved it)."
    )
    venue: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    simulated_clock_ms: int | None = Field(
        default=None, description="The latest slot replayed so far (simulated time)."
    )
    simulated_clock: str | None = None


class StrategyDetail(StrategySummaryView):
    """One strategy as get_strategy shows it: the summary plus its configuration."""

    config: StrategyConfig
    replay_spec: ReplayView | None = None
    created_ms: int
    created: str | None = None


class StrategyCreated(_Result):
    strategy_id: str
    name: str
    status: StrategyStatus
    data: Literal["live", "replay"] = Field(
        description="'replay': market data comes from replayed historical candles."
    )
    config: StrategyConfig
    next_step: str = Field(description="What to call next.")


class StrategyList(_Result):
    strategies: list[StrategySummaryView]
    count: int


class SymbolCloseView(_Result):
    symbol: str
    held: float = Field(description="Signed quantity held before the close.")
    closed: float = Field(description="Quantity the closing orders filled.")
    left: float = Field(description="Signed quantity left in the strategy's ledger.")
    venue_left: float | None = Field(
        default=None, description="Live: the strategy's own quantity the venue still holds."
    )
    done: bool
    reason: str | None = None


class StatusChange(_Result):
    """The outcome of start / pause / resume / stop."""

    strategy_id: str
    status: StrategyStatus
    message: str
    closed_positions: list[str] = Field(
        default_factory=list, description="Symbols whose positions were closed (stop only)."
    )
    closing: list[SymbolCloseView] = Field(
        default_factory=list,
        description=(
            "Stop with close_positions: per symbol held, the quantity held, closed and left, "
            "and whether it is done (live: the venue agrees); the strategy is stopped only "
            "when every symbol is done, else it stays paused and says why."
        ),
    )


class Deleted(_Result):
    strategy_id: str
    deleted: bool = True


# --------------------------------------------------------------------------- portfolio


class PortfolioResult(PortfolioView):
    """The spec's PortfolioView plus equity, leverage and the strategy's data source."""

    equity: float = Field(description="Cash plus the marked value of every position.")
    cash: float = Field(description="Same as account_balance.")
    leverage: float = Field(description="Gross exposure divided by equity.")
    as_of: str | None = None


class ClosedPosition(_Result):
    strategy_id: str
    symbol: str
    compose_id: str | None = Field(default=None, description="The cycle that recorded the close.")
    status: str = Field(description="Fill status of the closing order.")
    filled_qty: float = 0.0
    avg_exec_price: float | None = None
    fee_cost: float | None = None
    realized_pnl: float | None = None
    reason: str | None = None
    portfolio: PortfolioResult | None = None


# --------------------------------------------------------------------------- cycles


class InstructionView(_Result):
    instruction_id: str
    symbol: str
    side: str
    action: str | None = None
    quantity: float
    leverage: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None


class GuardNoteView(_Result):
    instruction_id: str
    symbol: str
    outcome: str
    reason: str


class FillView(_Result):
    instruction_id: str
    symbol: str
    side: str
    status: str
    requested_qty: float
    filled_qty: float
    avg_exec_price: float | None = None
    fee_cost: float | None = None
    reason: str | None = None
    client_order_id: str | None = Field(
        default=None, description="Live: the order's client id at the venue."
    )
    exchange_order_id: str | None = Field(
        default=None, description="Live: the venue's own order id."
    )


class CycleOutcome(_Result):
    """What one decision cycle did (run_cycle_now) or would do (preview_decision)."""

    compose_id: str
    strategy_id: str
    ts: int = Field(description="The cycle's time (simulated time when replaying).")
    time: str | None
    status: CycleStatus
    reason: str | None = Field(default=None, description="Why the cycle was skipped or failed.")
    executed: bool = Field(description="False for a preview: nothing was sent or stored.")
    rationale: str | None = None
    proposed: list[InstructionView] = Field(description="What the composer proposed.")
    instructions: list[InstructionView] = Field(description="What passed the guardrails.")
    dropped: list[GuardNoteView] = Field(
        description="What the guardrails dropped or changed, and why."
    )
    fills: list[FillView]
    trades: list[TradeHistoryEntry] = Field(description="Opens and closes the fills produced.")
    proposed_adjustments: list[LevelAdjustment] = Field(
        default_factory=list,
        description="Stop-loss / take-profit changes of open positions the composer proposed.",
    )
    adjustments: list[LevelAdjustment] = Field(
        default_factory=list,
        description="The stop-loss / take-profit changes applied (or, in a preview, that would "
        "be); a dropped one is in dropped with the reason.",
    )
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float
    open_positions: int
    portfolio: PortfolioResult | None = Field(default=None, description="The portfolio after it.")


class CycleListItem(_Result):
    compose_id: str
    ts: int
    time: str | None
    kind: str = Field(description="'decision' or 'failure' (a cycle that could not run).")
    status: CycleStatus
    reason: str | None = None
    rationale: str | None = None
    proposed: int
    instructions: int
    dropped: int
    fills: int
    trades: int
    equity: float


class CyclePage(_Result):
    strategy_id: str
    cycles: list[CycleListItem] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as cursor for the next (older) page; null at the end."
    )


class CycleRecord(CycleResult):
    """Everything stored for one cycle: features, prompt and reply (raw), proposed and guarded
    instructions with drop reasons (guard_notes), fills (tx_results), trades, portfolio after."""

    time: str | None = None


# --------------------------------------------------------------------------- history


class TradePage(_Result):
    strategy_id: str
    trades: list[TradeHistoryEntry] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as cursor for the next (older) page; null at the end."
    )


class DigestResult(TradeDigest):
    """The spec's TradeDigest (per-instrument stats, Sharpe) plus Sortino, drawdown, return and
    fees, over the whole history; sharpe_ratio_recent covers only the latest cycles."""

    strategy_id: str
    as_of: str | None = None
    buy_and_hold: BuyAndHold | None = Field(
        default=None,
        description="Holding the symbols over the same period instead; None before two cycles.",
    )


# --------------------------------------------------------------------------- backtests


class BacktestResult(BacktestSummary):
    """A run's summary as the tool result, with its window as ISO times."""

    start: str | None
    end: str | None
    sweep: SweepResult | None = None
    """With ``sweep``: every parameter set's statistics; the run above is the best set's."""


# --------------------------------------------------------------------------- features


class FeaturesResult(_Result):
    source: Literal["live", "replay"]
    exchange: str
    market_type: Literal["spot", "perpetual"]
    interval: str
    as_of_ms: int | None
    as_of: str | None
    features: list[FeatureVector]


class FeatureKey(_Result):
    key: str
    group: Literal["candle", "snapshot"]
    meaning: str


class FeatureKeysResult(_Result):
    keys: list[FeatureKey]
    notes: str


__all__ = [
    "ClosedPosition",
    "Constraints",
    "CycleListItem",
    "CycleOutcome",
    "CyclePage",
    "CycleRecord",
    "Deleted",
    "DigestResult",
    "FeatureKey",
    "FeatureKeysResult",
    "FeaturesResult",
    "FillView",
    "GuardNoteView",
    "InstructionView",
    "PortfolioResult",
    "PositionSnapshot",
    "StatusChange",
    "StrategyConfig",
    "StrategyCreated",
    "StrategyDetail",
    "StrategyList",
    "StrategySummaryView",
    "TradePage",
    "iso",
]
