"""The strategy configuration the tools take: each argument's type declared once, the one model
(``StrategyParams``) built from them, and ``config_arguments``, which gives a tool its fields."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from inspect import Parameter
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tradeloop.services.scrub import describe_validation_error
from tradeloop.trading import constants as C
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import MarketType, TradingMode, UserRequest

KEYWORD_ONLY = Parameter.KEYWORD_ONLY

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
MaybeDecideInterval = optional(DecideInterval)
MaybeMaxLeverage = optional(MaxLeverage)
MaybeMaxPositions = optional(MaxPositions)
MaybeComposer = optional(Composer)
MaybeTemplate = optional(Template)


class StrategyParams(BaseModel):
    """The strategy configuration, declared once for every tool that takes one.

    create_strategy, update_strategy and run_backtest take these fields as their own arguments
    (``config_arguments`` puts them in the tool's signature, so the input schema shows each with
    its type, description and default), compare_strategies builds one per compared strategy, and
    ``request`` turns it into the ``UserRequest`` the services take.
    """

    model_config = ConfigDict(extra="forbid")

    symbols: Symbols
    initial_capital: InitialCapital
    decide_interval: DecideInterval = 3600
    max_leverage: MaxLeverage = C.DEFAULT_MAX_LEVERAGE
    max_positions: MaxPositions = C.DEFAULT_MAX_POSITIONS
    composer: Composer = "rules"
    strategy_prompt: MaybeStrategyPrompt = None
    template: Template = "default"
    llm_model: LlmModel = None
    rules: Rules = None
    feature_intervals: MaybeFeatureIntervals = None
    exchange: Exchange = C.DEFAULT_EXCHANGE_ID
    market_type: MarketTypeArg = "spot"
    name: MaybeName = None
    max_drawdown_pct: MaybeDrawdownPct = None
    max_order_value: MaybeOrderValue = None

    def request(
        self,
        *,
        trading_mode: str = "paper",
        testnet: bool = False,
        credentials_name: str | None = None,
        strategy_name: str | None = None,
    ) -> UserRequest:
        """The UserRequest; a bad value is a ConfigError naming the argument."""
        if self.market_type == MarketType.SPOT.value and self.max_leverage > 1:
            raise ConfigError(
                f"max_leverage: spot markets allow only 1 (got {self.max_leverage:g}); "
                "use market_type='perpetual' for leverage up to 125"
            )
        rules = self.rules.given() if self.rules else None
        trading = {
            "symbols": self.symbols,
            "initial_capital": self.initial_capital,
            "decide_interval": self.decide_interval,
            "max_leverage": self.max_leverage,
            "max_positions": self.max_positions,
            "composer": self.composer,
            "custom_prompt": self.strategy_prompt,
            "template": self.template,
            "feature_intervals": self.feature_intervals,
            "max_drawdown_pct": self.max_drawdown_pct,
            "max_order_value": self.max_order_value,
            "strategy_name": strategy_name,
            **({"rules": rules} if rules else {}),
        }
        mode = TradingMode.LIVE if trading_mode == "live" else TradingMode.VIRTUAL
        llm_model = self.llm_model.to_config() if self.llm_model else None
        try:
            return UserRequest.model_validate(
                {
                    **({"llm_model_config": llm_model} if llm_model else {}),
                    "exchange_config": {
                        "exchange_id": self.exchange,
                        "market_type": self.market_type,
                        "trading_mode": mode,
                        "testnet": testnet,
                        "credentials_name": credentials_name,
                    },
                    "trading_config": {k: v for k, v in trading.items() if v is not None},
                }
            )
        except ValidationError as exc:
            detail = describe_validation_error(exc, _argument_name)
            raise ConfigError(f"invalid arguments: {detail}") from None

    def given(self) -> dict[str, Any]:
        """The fields the caller gave (update_strategy: what changes)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


_ARGUMENT_OF = {
    ("exchange_config", "exchange_id"): "exchange",
    ("exchange_config", "market_type"): "market_type",
    ("exchange_config", "trading_mode"): "trading_mode",
    ("trading_config", "custom_prompt"): "strategy_prompt",
}


def _argument_name(loc: tuple[Any, ...]) -> str:
    """``('trading_config', 'symbols', 0)`` -> ``symbols[0]``: the tool argument at fault."""
    if len(loc) < 2:
        return "arguments"
    head = _ARGUMENT_OF.get((loc[0], loc[1]), str(loc[1]))
    return head + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:])


def config_arguments[F: Callable[..., Any]](
    *names: str, all_optional: bool = False
) -> Callable[[F], F]:
    """Give a tool the ``StrategyParams`` fields ``names`` as arguments, received as one
    ``config: StrategyParams`` parameter of the tool.

    The tool's signature (which the SDK turns into its input schema) gets each field with the
    model's type, description and default; the tool's own parameters follow. ``all_optional``:
    each field defaults to None and ``config`` holds only the fields given (``config.given()``).
    """
    hints = get_type_hints(StrategyParams, include_extras=True)

    def decorate(fn: F) -> F:
        own = inspect.signature(fn, eval_str=True)
        added = []
        for name in names:
            field = StrategyParams.model_fields[name]
            if all_optional:
                hint, default = optional(hints[name]), None
            else:
                hint = hints[name]
                default = inspect.Parameter.empty if field.is_required() else field.default
            added.append(inspect.Parameter(name, KEYWORD_ONLY, default=default, annotation=hint))
        rest = [p.replace(kind=KEYWORD_ONLY) for p in own.parameters.values() if p.name != "config"]

        @functools.wraps(fn)
        async def tool(**arguments: Any) -> Any:
            given = {name: arguments.pop(name) for name in names if name in arguments}
            if all_optional:
                given = {name: value for name, value in given.items() if value is not None}
            config = StrategyParams.model_construct(**given)  # the SDK validated each argument
            return await fn(config=config, **arguments)

        required = [p for p in rest if p.default is inspect.Parameter.empty]
        parameters = [*required, *added, *(p for p in rest if p not in required)]
        tool.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            parameters, return_annotation=own.return_annotation
        )
        tool.__annotations__ = {p.name: p.annotation for p in parameters} | {
            "return": own.return_annotation
        }
        return tool  # type: ignore[return-value]

    return decorate
