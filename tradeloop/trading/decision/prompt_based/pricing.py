"""What a model call costs: list prices in USD per million tokens, as a data table.

Claude prices are Anthropic's published list prices (platform.claude.com/docs/en/about-claude/pricing
and the model pages), OpenAI's from openai.com/api/pricing, at the time of writing; check them when
adding a model. A strategy's ``llm_model_config.price`` overrides the table (e.g. zero for a local
model). ``cache_write`` is the
5-minute ephemeral cache write (1.25 x input) that the composer's ``cache_control`` uses;
``cache_read`` is a cache hit. ``input_tokens`` from the API already excludes cached tokens, so
the four counts are priced separately and added.

A model that is not in the table (matching no prefix, after dropping a router's ``vendor/`` part as
in OpenRouter's ``openai/gpt-4.1-mini``) and has no override has an unknown cost: ``cost_usd``
returns None, logged once, so spend is never reported as $0. OpenAI bills cached input at the
cache-read price and has no cache-write charge. Haiku 5.5 is priced at its lower band (prompts up
to 100k tokens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tradeloop.trading.models import LlmPrice

logger = logging.getLogger(__name__)

CACHE_WRITE_MULTIPLIER = 1.25
CACHE_READ_MULTIPLIER = 0.1


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input: float
    output: float
    cache_write: float
    cache_read: float


def _price(
    input_: float, output: float, read_multiplier: float = CACHE_READ_MULTIPLIER
) -> ModelPrice:
    return ModelPrice(
        input=input_,
        output=output,
        cache_write=input_ * CACHE_WRITE_MULTIPLIER,
        cache_read=input_ * read_multiplier,
    )


def _openai(input_: float, output: float, cache_read: float) -> ModelPrice:
    return ModelPrice(input=input_, output=output, cache_write=input_, cache_read=cache_read)


PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-1": _price(10.0, 50.0, 0.025),
    "claude-mythos-5-1": _price(10.0, 50.0, 0.025),
    "claude-fable-5": _price(10.0, 50.0),
    "claude-mythos-5": _price(10.0, 50.0),
    "claude-opus-5-5": _price(4.0, 20.0, 0.05),
    "claude-opus-5": _price(5.0, 25.0),
    "claude-opus-4-8": _price(5.0, 25.0),
    "claude-opus-4-7": _price(5.0, 25.0),
    "claude-opus-4-6": _price(5.0, 25.0),
    "claude-opus-4-5": _price(5.0, 25.0),
    "claude-opus-4-1": _price(15.0, 75.0),
    "claude-opus-4": _price(15.0, 75.0),
    "claude-sonnet-5-5": _price(2.0, 10.0, 0.05),
    "claude-sonnet-5": _price(2.0, 10.0),
    "claude-sonnet-4-6": _price(3.0, 15.0),
    "claude-sonnet-4-5": _price(3.0, 15.0),
    "claude-sonnet-4": _price(3.0, 15.0),
    "claude-3-7-sonnet": _price(3.0, 15.0),
    "claude-haiku-5-5": _price(0.10, 0.50),
    "claude-haiku-4-5": _price(1.0, 5.0),
    "claude-3-5-haiku": _price(0.80, 4.0),
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-4.1": _openai(2.0, 8.0, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4o": _openai(2.50, 10.0, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "o4-mini": _openai(1.10, 4.40, 0.275),
    "o3": _openai(2.0, 8.0, 0.50),
}

_warned: set[str] = set()


def known_price(model: str) -> ModelPrice | None:
    """The table entry for ``model`` or its longest prefix (``claude-sonnet-4-5-20250929``)."""
    name = model.rsplit("/", 1)[-1]
    matches = [key for key in PRICES if name == key or name.startswith(f"{key}-")]
    return PRICES[max(matches, key=len)] if matches else None


def price_for(model: str, override: LlmPrice | None = None) -> ModelPrice | None:
    """The override, else the table's price, else None (logged once per model)."""
    if override is not None:
        return ModelPrice(
            input=override.input,
            output=override.output,
            cache_write=override.input if override.cache_write is None else override.cache_write,
            cache_read=override.input if override.cache_read is None else override.cache_read,
        )
    price = known_price(model)
    if price is None and model not in _warned:
        _warned.add(model)
        logger.warning(
            "no list price for model %r: its cost is reported as unknown "
            "(set llm_model_config.price to price it)",
            model,
        )
    return price


def cost_usd(
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    price: LlmPrice | None = None,
) -> float | None:
    """USD for these token counts, or None when the model's price is unknown."""
    known = price_for(model, price)
    if known is None:
        return None
    micro_dollars = (
        input_tokens * known.input
        + output_tokens * known.output
        + cache_creation_input_tokens * known.cache_write
        + cache_read_input_tokens * known.cache_read
    )
    return round(micro_dollars / 1_000_000, 8)
