"""Deterministic client order ids: the same instruction always gets the same id.

The id is ``tl`` followed by a hex digest of ``(compose_id, instruction index)``, cut to the venue's
length limit. Hex digits are inside every venue's alphabet, and 30 hex digits (OKX's 32-character
limit) still leave 120 bits, so two instructions never share an id by accident.
"""

from __future__ import annotations

import hashlib

from tradeloop.trading.errors import ConfigError
from tradeloop.trading.execution.venues import VenueProfile

PREFIX = "tl"


def client_order_id(compose_id: str, index: int, venue: VenueProfile) -> str:
    """The client order id of instruction ``index`` of cycle ``compose_id`` on ``venue``."""
    if not compose_id or index < 0:
        raise ValueError("a client order id needs a compose_id and a non-negative index")
    digest = hashlib.blake2b(f"{compose_id}\x1f{index}".encode(), digest_size=32).hexdigest()
    client_id = PREFIX + digest[: venue.client_id_max_len - len(PREFIX)]
    if not venue.client_id_ok(client_id):
        raise ConfigError(f"{venue.name}: client order id {client_id!r} breaks the venue's rules")
    return client_id
