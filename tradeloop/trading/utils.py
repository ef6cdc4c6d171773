"""Shared utilities: symbols, intervals, ids and exact decimal conversion."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from functools import lru_cache

from tradeloop.trading.constants import DEFAULT_QUOTE

_KNOWN_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}$")
_INTERVAL_RE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@lru_cache(maxsize=4096)
def normalize_symbol(raw: str) -> str:
    """Return the canonical ``BASE-QUOTE`` form of BTC/USDT, btc-usdt, BTCUSDT, BTC/USDT:USDT or BTC."""
    text = raw.strip().upper()
    text = text.split(":", 1)[0]
    for sep in ("/", "-", "_"):
        if sep in text:
            base, _, quote = text.partition(sep)
            break
    else:
        base, quote = _split_concatenated(text)
    if not (_SYMBOL_RE.match(base) and _SYMBOL_RE.match(quote)) or base == quote:
        raise ValueError(f"{raw!r} is not a symbol like BTC-USDT")
    return f"{base}-{quote}"


def _split_concatenated(text: str) -> tuple[str, str]:
    for quote in _KNOWN_QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)], quote
    return text, DEFAULT_QUOTE


def to_ccxt_symbol(symbol: str, *, perpetual: bool) -> str:
    """``BTC-USDT`` -> ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (linear perpetual)."""
    base, quote = normalize_symbol(symbol).split("-")
    return f"{base}/{quote}:{quote}" if perpetual else f"{base}/{quote}"


@lru_cache(maxsize=256)
def parse_interval_seconds(interval: str) -> int:
    """``1m`` -> 60. Raises ValueError naming the accepted forms."""
    match = _INTERVAL_RE.match(interval)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"interval {interval!r} must look like 1m, 5m, 1h, 4h or 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def new_compose_id() -> str:
    """A unique id for one decision cycle."""
    return f"c_{uuid.uuid4().hex}"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Exact decimal of a float's shortest repr, so 0.1 stays 0.1 rather than 0.1000000000000000055."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)
