"""Deterministic client order ids, derived from what the order is.

The id is ``tl`` followed by a hex digest of the order's identity (``OrderKey``): strategy,
cycle (``compose_id``, which also says the purpose: ``stop_...``, ``close_...`` or a decision
cycle), action, symbol, side, reduce-only, requested quantity, and a sequence number that tells
apart identical orders of one cycle. Never a position in a list: a list that changes between two
attempts (a symbol closed in the meantime) must not hand one symbol's id to another symbol's order.
The id is cut to the venue's length limit: hex digits are inside every venue's alphabet, and 30
hex digits (OKX's 32-character limit) still leave 120 bits, so two orders never share an id by
accident.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import TradeInstruction, TradeSide
from tradeloop.trading.utils import to_decimal
from tradeloop.trading.venues import VenueProfile

PREFIX = "tl"


@dataclass(frozen=True, slots=True)
class OrderKey:
    """What an order is; equal keys are the same order, whatever list it came in."""

    strategy_id: str
    compose_id: str
    action: str
    symbol: str
    side: TradeSide
    reduce_only: bool
    quantity: Decimal
    """The requested base quantity, before the venue's rounding."""
    sequence: int = 0
    """Counts earlier orders of the same cycle with the same key (normally 0)."""

    def text(self) -> str:
        parts = (
            self.strategy_id,
            self.compose_id,
            self.action,
            self.symbol,
            self.side.value,
            "reduce" if self.reduce_only else "open",
            format(self.quantity.normalize(), "f"),
            str(self.sequence),
        )
        return "\x1f".join(parts)


def order_keys(strategy_id: str, instructions: Sequence[TradeInstruction]) -> list[OrderKey]:
    """The key of each instruction of one batch, numbering identical ones in order."""
    seen: Counter[OrderKey] = Counter()
    keys = []
    for inst in instructions:
        base = OrderKey(
            strategy_id=strategy_id,
            compose_id=inst.compose_id,
            action=inst.action.value if inst.action else "",
            symbol=inst.instrument.symbol,
            side=inst.side,
            reduce_only=inst.reduce_only,
            quantity=to_decimal(inst.quantity),
        )
        keys.append(replace(base, sequence=seen[base]))
        seen[base] += 1
    return keys


def client_order_id(key: OrderKey, venue: VenueProfile) -> str:
    """The client order id of the order ``key`` on ``venue``."""
    if not key.compose_id or key.sequence < 0:
        raise ValueError("a client order id needs a compose_id and a non-negative sequence")
    digest = hashlib.blake2b(key.text().encode(), digest_size=32).hexdigest()
    client_id = PREFIX + digest[: venue.client_id_max_len - len(PREFIX)]
    if not venue.client_id_ok(client_id):
        raise ConfigError(f"{venue.name}: client order id {client_id!r} breaks the venue's rules")
    return client_id
