"""Argument types shared by the tools that take a strategy configuration."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field

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
        description="'rules' (RSI/trend rules, no API key needed) or 'llm' (Claude decides; "
        "needs ANTHROPIC_API_KEY on the server)."
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
        description="Starting capital in the quote currency (USDT); must be greater than 0.",
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


def optional(arg: Any) -> Any:
    """``Annotated[T, Field(...)]`` -> ``Annotated[T | None, Field(...)]``.

    Written as ``Annotated[T, ...] | None`` the description would sink into the schema's
    ``anyOf`` branch, where many clients never look; this keeps it at the top level.
    """
    base, *metadata = get_args(arg)
    return Annotated[(base | None, *metadata)]


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
