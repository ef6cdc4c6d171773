"""The strategy configuration as one model (``StrategyParams``) that every tool taking one reuses,
and ``config_arguments``, which gives a tool its fields as arguments."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from inspect import Parameter
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError

from tradeloop.services.scrub import describe_validation_error
from tradeloop.tools._params import (
    Composer,
    DecideInterval,
    Exchange,
    InitialCapital,
    LlmModel,
    MarketTypeArg,
    MaxLeverage,
    MaxPositions,
    MaybeDrawdownPct,
    MaybeFeatureIntervals,
    MaybeName,
    MaybeOrderValue,
    MaybeStrategyPrompt,
    Rules,
    Symbols,
    Template,
    optional,
)
from tradeloop.trading import constants as C
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import MarketType, TradingMode, UserRequest

KEYWORD_ONLY = Parameter.KEYWORD_ONLY


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
