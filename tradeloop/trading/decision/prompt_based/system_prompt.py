"""The system prompt, rendered from ``templates/system.txt`` and a named style template.

The system prompt depends only on the strategy's configuration (never on time or market data), so
it is byte-identical from cycle to cycle and the prompt cache can serve it. Everything that changes
per cycle goes into the user message (``context_json``).
"""

from __future__ import annotations

import math
from importlib import resources
from importlib.resources.abc import Traversable
from string import Template

from tradeloop.trading.decision.prompt_based.context_json import render_context
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import ComposeContext, MarketType, UserRequest

CHARS_PER_TOKEN = 3.5
_SYSTEM_TEMPLATE = "system"
_SPOT_RULES = (
    "SPOT. Buy only with available cash and sell only what you hold: open_short and "
    "close_short are not available, and leverage is always 1."
)
_PERPETUAL_RULES = (
    "PERPETUAL (linear, margined in the quote currency). Longs and shorts are allowed, "
    "with leverage from 1 up to {max_leverage}."
)


def estimate_tokens(text: str) -> int:
    """Rough token count: characters / 3.5, rounded up.

    A heuristic for budgeting, not a tokenizer: English prose is close to 4 characters per token,
    number-dense compact JSON closer to 3, so 3.5 sits between the two. For exact counts use the
    API's token counting endpoint.
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def available_templates() -> list[str]:
    """Names usable as ``trading_config.template``."""
    names = (entry.name for entry in _templates_dir().iterdir() if entry.name.endswith(".txt"))
    return sorted(n.removesuffix(".txt") for n in names if n != f"{_SYSTEM_TEMPLATE}.txt")


def render_system_prompt(request: UserRequest) -> str:
    """Raises ``ConfigError`` for an unknown template name."""
    cfg = request.trading_config
    text = Template(_read_template(_SYSTEM_TEMPLATE)).substitute(
        symbols=", ".join(cfg.symbols),
        market_rules=_market_rules(request),
        max_leverage=_number(cfg.max_leverage),
        max_positions=cfg.max_positions,
        max_notional_per_symbol=_limit(cfg.max_notional_per_symbol),
        max_order_value=_limit(cfg.max_order_value),
        style=(cfg.custom_prompt or _style_template(cfg.template)).strip(),
        owner_instructions=_owner_instructions(cfg.prompt_text),
    )
    return text.rstrip() + "\n"


def render_prompt(request: UserRequest, context: ComposeContext) -> tuple[str, str]:
    """``(system, user)``: the stable system prompt and this cycle's context document."""
    return render_system_prompt(request), render_context(context)


def _style_template(name: str) -> str:
    if name not in available_templates():
        available = ", ".join(available_templates())
        raise ConfigError(f"unknown prompt template {name!r}; available: {available}")
    return _read_template(name)


def _market_rules(request: UserRequest) -> str:
    if request.exchange_config.market_type is MarketType.SPOT:
        return _SPOT_RULES
    return _PERPETUAL_RULES.format(max_leverage=_number(request.trading_config.max_leverage))


def _owner_instructions(prompt_text: str | None) -> str:
    if not prompt_text or not prompt_text.strip():
        return ""
    return f"\n# Additional instructions from the strategy owner\n{prompt_text.strip()}"


def _limit(value: float | None) -> str:
    return (
        "none (bounded by buying power)" if value is None else f"{_number(value)} (quote currency)"
    )


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.10g}"


def _templates_dir() -> Traversable:
    return resources.files(__package__).joinpath("templates")


def _read_template(name: str) -> str:
    return _templates_dir().joinpath(f"{name}.txt").read_text(encoding="utf-8")
