"""Pydantic DTOs and enums: the data contracts between the stages of the decision cycle.

Configs are frozen and reject unknown fields, so a typo in a strategy file is an error naming the
field rather than a silently ignored setting. Views are immutable; stages return new ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from tradeloop.trading import constants as C
from tradeloop.trading.utils import normalize_symbol, parse_interval_seconds


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Record(BaseModel):
    """A DTO that is created by the framework; unknown fields are still rejected."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- enums


class TradingMode(StrEnum):
    VIRTUAL = "virtual"
    LIVE = "live"


class MarketType(StrEnum):
    SPOT = "spot"
    PERPETUAL = "perpetual"


class TradeSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class TradeType(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"


class TxStatus(StrEnum):
    FILLED = "FILLED"
    PARTIAL = "PARTIAL"
    REJECTED = "REJECTED"
    ERROR = "ERROR"


class TradeAction(StrEnum):
    OPEN_LONG = "open_long"
    OPEN_SHORT = "open_short"
    CLOSE_LONG = "close_long"
    CLOSE_SHORT = "close_short"
    HOLD = "hold"


class StrategyStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    ERROR = "error"


class CycleStatus(StrEnum):
    OK = "ok"
    SKIPPED = "skipped"
    ERROR = "error"


# --------------------------------------------------------------------------- configuration


LlmProvider = Literal["anthropic", "openai"]
DEFAULT_KEY_ENV: dict[str, str] = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
"""The variable each provider's key is read from unless ``api_key_env`` names another."""


class LlmPrice(_Frozen):
    """List prices in USD per million tokens, overriding the built-in table for one strategy."""

    input: float = Field(ge=0, le=10_000, allow_inf_nan=False)
    output: float = Field(ge=0, le=10_000, allow_inf_nan=False)
    cache_read: float | None = Field(default=None, ge=0, le=10_000, allow_inf_nan=False)
    """Cached input tokens; default: the input price."""
    cache_write: float | None = Field(default=None, ge=0, le=10_000, allow_inf_nan=False)
    """Anthropic prompt-cache writes; default: the input price."""


class LLMModelConfig(_Frozen):
    """Which model decides. The API key is never stored: it is read from the environment
    variable ``api_key_env`` names (by default the provider's usual one)."""

    provider: LlmProvider = "anthropic"
    """``anthropic`` (Messages API) or ``openai`` (chat completions: OpenAI, OpenRouter, DeepSeek,
    Groq, vLLM, Ollama, ... through ``base_url``)."""
    model_id: str = Field(default=C.DEFAULT_LLM_MODEL, min_length=1, max_length=200)
    max_tokens: int = Field(default=C.DEFAULT_LLM_MAX_TOKENS, ge=64, le=64_000)
    timeout_s: float = Field(default=C.DEFAULT_LLM_TIMEOUT_S, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=10)
    base_url: str | None = Field(default=None, max_length=300, pattern=r"^https?://[^\s]+$")
    """The API's root URL, e.g. ``http://localhost:11434/v1`` (Ollama) or
    ``https://openrouter.ai/api/v1``; default: the provider's own."""
    api_key_env: str = Field(
        default="ANTHROPIC_API_KEY", max_length=100, pattern=r"^[A-Z_][A-Z0-9_]*$"
    )
    """Name of the environment variable holding the key (never the key itself)."""
    price: LlmPrice | None = None
    """Overrides the price table (e.g. zero for a local model); unknown models cost 'unknown'."""
    training_cutoff: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    """The model's training-data cutoff (YYYY-MM); overrides the table backtests warn from."""

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, data: Any) -> Any:
        """``model`` is accepted for ``model_id``; ``openai_compatible`` names ``openai``; the
        key variable defaults to the provider's; an ``openai`` model must be named."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "model" in data and "model_id" not in data:
            data["model_id"] = data.pop("model")
        if data.get("provider") == "openai_compatible":
            data["provider"] = "openai"
        provider = data.get("provider", "anthropic")
        if isinstance(provider, str) and provider in DEFAULT_KEY_ENV:
            data.setdefault("api_key_env", DEFAULT_KEY_ENV[provider])
            if provider != "anthropic" and "model_id" not in data:
                raise ValueError(
                    f"model_id: required for provider {provider!r} (e.g. gpt-4.1-mini)"
                )
        return data

    @field_validator("api_key_env")
    @classmethod
    def _not_a_trading_secret(cls, name: str) -> str:
        """The key is sent to ``base_url``: never let a config point it at an exchange secret."""
        secret = any(word in name for word in ("SECRET", "PASSWORD", "PASSPHRASE"))
        if name.startswith("TRADELOOP_") or secret or not name.endswith("_KEY"):
            raise ValueError(
                "must name a model API key variable ending in _KEY (not TRADELOOP_*, and no "
                "SECRET/PASSWORD/PASSPHRASE) "
                f"(got {name!r})"
            )
        return name


class ExchangeConfig(_Frozen):
    """Where market data comes from and where orders go. Credentials are excluded from dumps."""

    trading_mode: TradingMode = TradingMode.VIRTUAL
    exchange_id: str = Field(default=C.DEFAULT_EXCHANGE_ID, pattern=r"^[a-z0-9_]+$")
    market_type: MarketType = MarketType.SPOT
    testnet: bool = False
    fee_bps: float = Field(default=C.DEFAULT_FEE_BPS, ge=0, le=1000)
    max_slippage_bps: int = Field(default=C.DEFAULT_MAX_SLIPPAGE_BPS, ge=0, le=1000)
    margin_mode: Literal["cross", "isolated"] = "cross"
    credentials_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    """Names an entry of the credentials file / environment prefix; the secrets stay there."""
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    secret_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    passphrase: SecretStr | None = Field(default=None, exclude=True, repr=False)


class RuleComposerConfig(_Frozen):
    """Thresholds of the default rule composer (used whenever no LLM is configured)."""

    interval: str | None = None
    """Candle interval whose RSI and trend drive the rules; None means the first feature interval."""
    rsi_buy_below: float = Field(default=30.0, ge=0, le=100)
    rsi_sell_above: float = Field(default=70.0, ge=0, le=100)
    trend_filter: bool = False
    """Only open longs when EMA20 > EMA50 (and shorts when below)."""
    allow_short: bool = False
    position_size_pct: float = Field(default=0.2, gt=0, le=1)
    """Fraction of equity committed to each new position (before leverage)."""
    stop_loss_pct: float | None = Field(default=None, gt=0, lt=100)
    """A new position's stop-loss, this many percent from the price it opens at (None: none)."""
    take_profit_pct: float | None = Field(default=None, gt=0, le=1000)
    """A new position's take-profit, this many percent from the price it opens at (None: none)."""

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> RuleComposerConfig:
        if self.rsi_buy_below >= self.rsi_sell_above:
            raise ValueError("rsi_buy_below must be lower than rsi_sell_above")
        return self


class TradingConfig(_Frozen):
    strategy_name: str | None = Field(default=None, max_length=120)
    initial_capital: float = Field(gt=0, allow_inf_nan=False)
    max_leverage: float = Field(
        default=C.DEFAULT_MAX_LEVERAGE, ge=1, le=C.MAX_LEVERAGE_CAP, allow_inf_nan=False
    )
    max_positions: int = Field(default=C.DEFAULT_MAX_POSITIONS, ge=1, le=100)
    symbols: list[str] = Field(min_length=1, max_length=50)
    decide_interval: int = Field(default=C.DEFAULT_DECIDE_INTERVAL_S, ge=C.MIN_DECIDE_INTERVAL_S)
    custom_prompt: str | None = Field(default=None, max_length=20_000)
    prompt_text: str | None = Field(default=None, max_length=20_000)
    template: str = Field(default="default", pattern=r"^[a-z0-9_]+$")
    composer: Literal["rules", "llm"] = "rules"
    feature_intervals: list[str] = Field(
        default_factory=lambda: list(C.DEFAULT_FEATURE_INTERVALS), min_length=1, max_length=4
    )
    candle_lookback: int = Field(default=C.DEFAULT_CANDLE_LOOKBACK, ge=60, le=2000)
    max_notional_per_symbol: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_order_value: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_daily_traded_value: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_drawdown_pct: float | None = Field(default=None, gt=0, le=100)
    daily_loss_limit: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    close_on_stop: bool = False
    sharpe_window: int = Field(default=C.DEFAULT_SHARPE_WINDOW, ge=2, le=100_000)
    rules: RuleComposerConfig = Field(default_factory=RuleComposerConfig)

    @field_validator("symbols")
    @classmethod
    def _normalize_symbols(cls, symbols: list[str]) -> list[str]:
        normalized = [normalize_symbol(s) for s in symbols]
        duplicates = sorted({s for s in normalized if normalized.count(s) > 1})
        if duplicates:
            raise ValueError(f"duplicate symbols: {', '.join(duplicates)}")
        return normalized

    @field_validator("feature_intervals")
    @classmethod
    def _valid_intervals(cls, intervals: list[str]) -> list[str]:
        for interval in intervals:
            parse_interval_seconds(interval)
        if len(set(intervals)) != len(intervals):
            raise ValueError("feature_intervals must not repeat")
        return intervals


class UserRequest(_Frozen):
    """Everything that defines one strategy."""

    llm_model_config: LLMModelConfig = Field(default_factory=LLMModelConfig)
    exchange_config: ExchangeConfig = Field(default_factory=ExchangeConfig)
    trading_config: TradingConfig

    @model_validator(mode="after")
    def _spot_has_no_leverage(self) -> UserRequest:
        spot = self.exchange_config.market_type is MarketType.SPOT
        if spot and self.trading_config.max_leverage > 1:
            raise ValueError("trading_config.max_leverage must be 1 for spot markets")
        return self


# --------------------------------------------------------------------------- market data


class InstrumentRef(_Frozen):
    symbol: str
    exchange_id: str | None = None


class Candle(_Frozen):
    ts: int
    instrument: InstrumentRef
    open: float
    high: float
    low: float
    close: float
    volume: float
    interval: str


class FeatureVector(_Frozen):
    ts: int
    instrument: InstrumentRef
    values: dict[str, float]
    meta: dict[str, Any] | None = None


class FeaturesPipelineResult(_Record):
    features: list[FeatureVector] = Field(default_factory=list)


# --------------------------------------------------------------------------- portfolio


class Constraints(_Frozen):
    max_positions: int | None = None
    max_leverage: float | None = None
    max_notional_per_symbol: float | None = None
    quantity_step: float | None = None
    min_trade_qty: float | None = None
    min_notional: float | None = None


class PositionEntry(_Frozen):
    """What the decision that opened a position said: kept with the position (and stored with
    it) until it is closed, so later decisions can judge an exit against the entry's reason."""

    rationale: str = Field(max_length=C.ENTRY_RATIONALE_CHARS)
    compose_id: str
    """The cycle that opened it."""
    decided_ts: int
    """That cycle's time (ms)."""


class PositionSnapshot(_Frozen):
    instrument: InstrumentRef
    quantity: float
    """Signed: + long, - short."""
    avg_price: float | None = None
    mark_price: float | None = None
    unrealized_pnl: float | None = None
    leverage: float | None = None
    entry_ts: int | None = None
    notional: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    entry: PositionEntry | None = None
    """Why it was opened (None: opened before entries were kept, or outside a decision)."""


class PortfolioView(_Frozen):
    strategy_id: str
    ts: int
    account_balance: float
    """Cash (spot) or wallet balance (perpetual), in the quote currency."""
    positions: dict[str, PositionSnapshot] = Field(default_factory=dict)
    total_value: float | None = None
    total_unrealized_pnl: float | None = None
    buying_power: float | None = None
    constraints: Constraints | None = None
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    initial_capital: float | None = None
    gross_exposure: float = 0.0


# --------------------------------------------------------------------------- decision


class TradeDigestEntry(_Frozen):
    trade_count: int = 0
    realized_pnl: float = 0.0
    win_rate: float | None = None
    avg_holding_ms: int | None = None
    last_trade_ts: int | None = None


class TradeDigest(_Frozen):
    ts: int
    by_instrument: dict[str, TradeDigestEntry] = Field(default_factory=dict)
    sharpe_ratio: float | None = Field(
        default=None,
        description="Annualized Sharpe ratio of the per-cycle equity returns over the whole "
        "history (the first return from the initial capital), as a backtest reports it.",
    )
    sortino_ratio: float | None = Field(
        default=None,
        description="Annualized Sortino ratio over the whole history: mean return over the "
        "downside deviation sqrt(mean(min(r, 0)^2)); null until a cycle has lost.",
    )
    sharpe_ratio_recent: float | None = Field(
        default=None,
        description="Annualized Sharpe ratio of the returns of the last recent_window cycles only "
        "(how the strategy does lately; it may disagree with the whole-history figures).",
    )
    max_drawdown_pct: float | None = None
    total_return_pct: float | None = None
    fees_paid: float = 0.0
    realized_pnl: float = 0.0
    equity: float | None = None
    llm_cost_usd: float = 0.0
    recent_window: int | None = Field(
        default=None,
        description="How many of the latest cycles sharpe_ratio_recent covers (sharpe_window).",
    )


class DecisionSummary(_Frozen):
    """One earlier cycle, as the composer sees it when deciding the next."""

    compose_id: str
    ts: int
    rationale: str | None = None
    actions: list[str] = Field(default_factory=list)
    outcome: str | None = None


class ComposeContext(_Frozen):
    ts: int
    compose_id: str
    strategy_id: str
    features: list[FeatureVector]
    portfolio: PortfolioView
    digest: TradeDigest
    recent_decisions: list[DecisionSummary] = Field(default_factory=list)


class TradeInstruction(_Frozen):
    instruction_id: str
    compose_id: str
    instrument: InstrumentRef
    side: TradeSide
    quantity: float
    leverage: float | None = None
    max_slippage_bps: int | None = None
    meta: dict[str, Any] | None = None
    action: TradeAction | None = None
    stop_loss: float | None = None
    take_profit: float | None = None

    @property
    def reduce_only(self) -> bool:
        return self.action in (TradeAction.CLOSE_LONG, TradeAction.CLOSE_SHORT)


class LevelAdjustment(_Frozen):
    """A plan's new stop-loss and/or take-profit for a position already open, or the cancellation
    of either. The guardrails check it against the price; the portfolio applies it after the
    cycle's fills, so the next cycle's stop and target checks use the new levels."""

    adjustment_id: str
    """``{compose_id}:{i}``: plan item ``i``, like an instruction's id."""
    compose_id: str
    instrument: InstrumentRef
    stop_loss: float | None = None
    """The new stop (absolute price); None leaves it as it is unless ``cancel_stop_loss``."""
    take_profit: float | None = None
    """The new target (absolute price); None leaves it as it is unless ``cancel_take_profit``."""
    cancel_stop_loss: bool = False
    cancel_take_profit: bool = False
    previous_stop_loss: float | None = None
    """The position's levels before the change (set by the guardrails from the context)."""
    previous_take_profit: float | None = None
    meta: dict[str, Any] | None = None
    """``confidence`` and ``rationale`` of the plan item."""

    @property
    def changes_anything(self) -> bool:
        return (
            self.stop_loss is not None
            or self.take_profit is not None
            or self.cancel_stop_loss
            or self.cancel_take_profit
        )


class LLMUsage(_Frozen):
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    latency_ms: int = 0
    cost_usd: float | None = 0.0
    """None: the model has no known price (see ``pricing``), so the cost is unknown, not zero."""


class ComposeResult(_Record):
    instructions: list[TradeInstruction] = Field(default_factory=list)
    rationale: str | None = None
    skipped_reason: str | None = None
    """Set when the composer decided not to decide (e.g. ``llm_invalid: ...``)."""
    adjustments: list[LevelAdjustment] = Field(default_factory=list)
    """New or cancelled stops and targets of open positions."""
    raw: dict[str, Any] | None = None
    """What the decision was made from: prompt and reply for an LLM, signals for rules."""
    usage: LLMUsage | None = None


class GuardNote(_Frozen):
    """Why the guardrails changed or dropped one proposed instruction."""

    instruction_id: str
    symbol: str
    outcome: Literal["dropped", "clamped", "split"]
    reason: str


# --------------------------------------------------------------------------- execution


class TxResult(_Frozen):
    instruction_id: str
    instrument: InstrumentRef
    side: TradeSide
    status: TxStatus
    requested_qty: float
    filled_qty: float
    avg_exec_price: float | None = None
    fee_cost: float | None = None
    leverage: float | None = None
    reason: str | None = None
    ts: int | None = None
    client_order_id: str | None = None
    exchange_order_id: str | None = None
    stop_loss: float | None = None
    take_profit: float | None = None

    @field_validator("filled_qty", "requested_qty")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value) or value < 0:
            raise ValueError("must be a finite, non-negative quantity")
        return value


# --------------------------------------------------------------------------- history


class TradeHistoryEntry(_Frozen):
    trade_id: str
    compose_id: str
    instruction_id: str
    instrument: InstrumentRef
    side: TradeSide
    type: TradeType
    quantity: float
    entry_price: float | None = None
    exit_price: float | None = None
    entry_ts: int | None = None
    exit_ts: int | None = None
    realized_pnl: float | None = None
    holding_ms: int | None = None
    fee_cost: float = Field(
        default=0.0,
        description="The fee of this entry's own fill (an open: the entry fee; a close: the exit "
        "fee), so each fee paid appears once and summing fee_cost over all entries gives fees_paid.",
    )
    round_trip_fees: float | None = Field(
        default=None,
        description="A close only: its exit fee plus the entry fees of the quantity it closed "
        "(those are also the fee_cost of the opening entries); realized_pnl minus this is the "
        "round trip's net result.",
    )

    @property
    def net_pnl(self) -> float:
        """A round trip's realized PnL net of all its fees (records stored before
        ``round_trip_fees`` existed kept the round-trip fees in ``fee_cost``)."""
        fees = self.round_trip_fees if self.round_trip_fees is not None else self.fee_cost
        return (self.realized_pnl or 0.0) - fees


class StrategySummary(_Frozen):
    strategy_id: str
    ts: int
    equity: float
    cash: float
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float
    total_return_pct: float
    open_positions: int


class CycleResult(_Frozen):
    """Everything one decision cycle did, as recorded in history."""

    compose_id: str
    strategy_id: str
    ts: int
    slot_ts: int | None = None
    """The scheduled slot this cycle ran for (None for unscheduled cycles, e.g. a forced close)."""
    status: CycleStatus = CycleStatus.OK
    reason: str | None = None
    features: list[FeatureVector] = Field(default_factory=list)
    rationale: str | None = None
    raw: dict[str, Any] | None = None
    usage: LLMUsage | None = None
    proposed: list[TradeInstruction] = Field(default_factory=list)
    instructions: list[TradeInstruction] = Field(default_factory=list)
    guard_notes: list[GuardNote] = Field(default_factory=list)
    tx_results: list[TxResult] = Field(default_factory=list)
    trades: list[TradeHistoryEntry] = Field(default_factory=list)
    proposed_adjustments: list[LevelAdjustment] = Field(default_factory=list)
    """Stop and target changes the composer proposed (checks that dropped one: ``guard_notes``)."""
    adjustments: list[LevelAdjustment] = Field(default_factory=list)
    """The stop and target changes applied to positions after the cycle's fills."""
    portfolio: PortfolioView | None = None
    strategy_summary: StrategySummary


# --------------------------------------------------------------------------- hot-path construction


def constructor[**P, M: BaseModel](cls: Callable[P, M]) -> Callable[P, M]:
    """``cls(**fields)`` with the very same validation, called straight on pydantic-core.

    It skips ``BaseModel.__init__``'s Python frame, about 0.5 us of the 2-4 us a model costs; a
    decision cycle builds about ten, once per candle in a backtest. Keyword arguments only; mypy
    checks them against the model's fields as for the class itself."""
    validate = cast(
        Callable[[dict[str, Any]], M],
        cast(type[BaseModel], cls).__pydantic_validator__.validate_python,
    )

    def construct(*args: P.args, **fields: P.kwargs) -> M:
        if args:
            raise TypeError(f"{cls.__name__}() takes keyword arguments only")  # type: ignore[attr-defined]
        return validate(fields)

    return construct


@lru_cache(maxsize=4096)
def instrument_ref(symbol: str, exchange_id: str | None = None) -> InstrumentRef:
    """One shared (frozen) reference per symbol and venue, built once rather than every cycle."""
    return InstrumentRef(symbol=symbol, exchange_id=exchange_id)
