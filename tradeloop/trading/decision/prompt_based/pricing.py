"""What a Claude call costs: list prices in USD per million tokens, as a data table.

Prices are Anthropic's published list prices (platform.claude.com/docs/en/about-claude/pricing and
the model pages) at the time of writing; check them when adding a model. ``cache_write`` is the
5-minute ephemeral cache write (1.25 x input) that the composer's ``cache_control`` uses;
``cache_read`` is a cache hit. ``input_tokens`` from the API already excludes cached tokens, so
the four counts are priced separately and added.

A model that is not in the table (a new or dated id that matches no prefix) is priced with
``DEFAULT_PRICE`` (the Sonnet 4.x tier, $3 / $15) and logged once, so spend is never reported as $0.
Haiku 5.5 is priced at its lower band (prompts up to 100k tokens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
}
DEFAULT_PRICE = PRICES["claude-sonnet-4-5"]

_warned: set[str] = set()


def known_price(model: str) -> ModelPrice | None:
    """The table entry for ``model`` or its longest prefix (``claude-sonnet-4-5-20250929``)."""
    matches = [key for key in PRICES if model == key or model.startswith(f"{key}-")]
    return PRICES[max(matches, key=len)] if matches else None


def price_for(model: str) -> ModelPrice:
    price = known_price(model)
    if price is not None:
        return price
    if model not in _warned:
        _warned.add(model)
        logger.warning("no list price for model %r; costing it at the default $3/$15 tier", model)
    return DEFAULT_PRICE


def cost_usd(
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
) -> float:
    price = price_for(model)
    micro_dollars = (
        input_tokens * price.input
        + output_tokens * price.output
        + cache_creation_input_tokens * price.cache_write
        + cache_read_input_tokens * price.cache_read
    )
    return round(micro_dollars / 1_000_000, 8)
