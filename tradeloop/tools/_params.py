"""The strategy configuration's argument types, each declared once (with its description and
bounds); ``tools._config.StrategyParams`` is the one model built from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from tradeloop.trading import constants as C

Symbols = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=30)]],
    Field(
        description="Instruments to trade, e.g. ['BTC-USDT', 'ETH-USDT'] (BTC/USDT and BTCUSDT work too).",
        min_length=1,
        max_length=50,
    ),
]
DecideInterval = Annotated[
    int,
    Field(
        description=f"Seconds between decision cycles (at least {C.MIN_DECIDE_INTERVAL_S}); "
        "3600 decides hourly.",
        ge=C.MIN_DECIDE_INTERVAL_S,
        le=30 * 86400,
    ),
]
MaxLeverage = Annotated[
    float,
    Field(
        description=f"Maximum leverage, 1 to {C.MAX_LEVERAGE_CAP:g}; spot markets allow only 1.",
        ge=1,
        le=C.MAX_LEVERAGE_CAP,
        allow_inf_nan=False,
    ),
]
MaxPositions = Annotated[
    int, Field(description="Maximum number of concurrently open positions (1-100).", ge=1, le=100)
]
StrategyPrompt = Annotated[
    str,
    Field(
        description="Your own strategy instructions for the llm composer, in plain language.",
        max_length=20_000,
    ),
]
Template = Annotated[
    Literal["default", "aggressive", "conservative"],
    Field(description="Built-in strategy prompt template for the llm composer."),
]
Composer = Annotated[
    Literal["rules", "llm"],
    Field(
        description="'rules' (RSI/trend rules, no API key needed) or 'llm' (a model decides: "
        "Claude by default, needing ANTHROPIC_API_KEY on the server; see llm_model)."
    ),
]
FeatureIntervals = Annotated[
    list[Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}[smhdw]$")]],
    Field(
        description="Candle intervals the features are computed on (1-4 of 1m, 5m, 15m, 1h, 4h, 1d); "
        f"new strategies default to {' and '.join(C.DEFAULT_FEATURE_INTERVALS)}.",
        min_length=1,
        max_length=4,
    ),
]
DrawdownPct = Annotated[
    float,
    Field(
        description="Stop opening positions once equity falls this % below its peak.", gt=0, le=100
    ),
]
OrderValue = Annotated[
    float,
    Field(description="Largest notional value of a single order.", gt=0, allow_inf_nan=False),
]
Name = Annotated[str, Field(description="A display name (unique).", min_length=1, max_length=120)]

InitialCapital = Annotated[
    float,
    Field(
        description="Starting capital in the quote currency (USDT); must be greater than 0. "
        "Live: a cap; the strategy gets min(this, the account's available cash not held by "
        "other live strategies), shown in the answer's config.",
        gt=0,
        le=1e12,
        allow_inf_nan=False,
    ),
]
Exchange = Annotated[
    str,
    Field(
        description="ccxt exchange id for market data (and orders when live).",
        pattern=r"^[a-z0-9_]{2,30}$",
    ),
]
MarketTypeArg = Annotated[
    Literal["spot", "perpetual"], Field(description="Spot or linear USDT perpetual market.")
]


class LlmModelArg(BaseModel):
    """Which model an llm strategy asks, and where. Keys are never arguments: only the name of
    the server's environment variable that holds one."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["anthropic", "openai"] = Field(
        default="anthropic",
        description="'anthropic' (Claude) or 'openai' (any OpenAI-compatible API: OpenAI, "
        "OpenRouter, DeepSeek, Groq, vLLM, Ollama through base_url).",
    )
    model: str | None = Field(
        default=None,
        description="Model id, e.g. claude-sonnet-4-5, gpt-4.1-mini, openai/gpt-4.1-mini "
        "(OpenRouter), llama3.1:8b (Ollama). Required for 'openai'.",
        min_length=1,
        max_length=200,
    )
    base_url: str | None = Field(
        default=None,
        description="API root, e.g. http://localhost:11434/v1 (Ollama, no key needed) or "
        "https://openrouter.ai/api/v1; default: the provider's own.",
        max_length=300,
        pattern=r"^https?://[^\s]+$",
    )
    api_key_env: str | None = Field(
        default=None,
        description="NAME of the server's environment variable holding the key (default "
        "ANTHROPIC_API_KEY / OPENAI_API_KEY), e.g. OPENROUTER_API_KEY. Never the key itself.",
        pattern=r"^[A-Z_][A-Z0-9_]*_KEY$",
        max_length=100,
    )
    price_input_per_mtok: float | None = Field(
        default=None,
        description="USD per million input tokens (overrides the price table; 0 "
        "for a local model).",
        ge=0,
        le=10_000,
    )
    price_output_per_mtok: float | None = Field(
        default=None, description="USD per million output tokens.", ge=0, le=10_000
    )
    training_cutoff: str | None = Field(
        default=None,
        description="The model's training-data cutoff (YYYY-MM), for backtest warnings.",
        pattern=r"^\d{4}-\d{2}(-\d{2})?$",
    )

    def to_config(self) -> dict[str, Any]:
        """The ``llm_model_config`` fields this argument sets."""
        body: dict[str, Any] = {"provider": self.provider}
        for key, value in (
            ("model_id", self.model),
            ("base_url", self.base_url),
            ("api_key_env", self.api_key_env),
            ("training_cutoff", self.training_cutoff),
        ):
            if value is not None:
                body[key] = value
        if self.price_input_per_mtok is not None or self.price_output_per_mtok is not None:
            body["price"] = {
                "input": self.price_input_per_mtok or 0.0,
                "output": self.price_output_per_mtok or 0.0,
            }
        return body


LlmModel = Annotated[
    LlmModelArg | None,
    Field(
        description="llm composer: which model decides and where (provider, model, base_url, "
        "api_key_env); default Claude via ANTHROPIC_API_KEY."
    ),
]


class RulesArg(BaseModel):
    """Thresholds of the rules composer; fields left out keep their defaults (create) or their
    current values (update)."""

    model_config = ConfigDict(extra="forbid")

    rsi_buy_below: float | None = Field(
        default=None, ge=0, le=100, description="Open a long when RSI is below this (default 30)."
    )
    rsi_sell_above: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Close a long (or open a short, with allow_short) when RSI is above this "
        "(default 70); must be above rsi_buy_below.",
    )
    position_size_pct: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Fraction of equity committed to each new position, before leverage "
        "(default 0.2).",
    )
    allow_short: bool | None = Field(
        default=None, description="Open shorts on perpetual markets (default false)."
    )
    trend_filter: bool | None = Field(
        default=None, description="Only trade with the EMA20/EMA50 trend (default false)."
    )
    interval: str | None = Field(
        default=None,
        description="Candle interval whose RSI drives the rules (default: the first of "
        "feature_intervals).",
        pattern=r"^\d+[mhdw]$",
    )

    def given(self) -> dict[str, Any]:
        """The thresholds this argument sets."""
        return self.model_dump(exclude_none=True)


Rules = Annotated[
    RulesArg | None,
    Field(
        description="rules composer thresholds: rsi_buy_below, rsi_sell_above, "
        "position_size_pct, allow_short, trend_filter, interval."
    ),
]


def optional(arg: Any) -> Any:
    """``Annotated[T, Field(...)]`` -> ``Annotated[T | None, Field(...)]``.

    Written as ``Annotated[T, ...] | None`` the description would sink into the schema's
    ``anyOf`` branch, where many clients never look; this keeps it at the top level.
    """
    base, *metadata = get_args(arg)
    return Annotated[(base | None, *metadata)]


if TYPE_CHECKING:  # what mypy sees; at run time each keeps its Field (description, bounds)
    MaybeName = str | None
    MaybeStrategyPrompt = str | None
    MaybeFeatureIntervals = list[str] | None
    MaybeDrawdownPct = float | None
    MaybeOrderValue = float | None
else:
    MaybeName = optional(Name)
    MaybeStrategyPrompt = optional(StrategyPrompt)
    MaybeFeatureIntervals = optional(FeatureIntervals)
    MaybeDrawdownPct = optional(DrawdownPct)
    MaybeOrderValue = optional(OrderValue)
