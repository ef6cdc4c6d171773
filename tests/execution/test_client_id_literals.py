"""Client order ids are pinned to their definition: a restarted (or upgraded) process must find
its orders at the venue under the very ids it sent them with. The definition, restated here: ``tl``
and the blake2b-256 hex digest of the order's identity fields joined by the unit separator (0x1f),
cut to the venue's length limit."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from tradeloop.trading.execution.client_ids import OrderKey, client_order_id
from tradeloop.trading.models import TradeSide
from tradeloop.trading.venues import VENUES

KEY = OrderKey(
    strategy_id="s_1",
    compose_id="c_0123",
    action="open_short",
    symbol="ETH-USDT",
    side=TradeSide.SELL,
    reduce_only=False,
    quantity=Decimal("1.2500"),
    sequence=7,
)


@pytest.mark.parametrize("profile", list(VENUES.values()), ids=lambda p: p.name)
def test_the_id_is_tl_and_the_blake2b_digest_of_the_order_cut_to_the_venue(profile) -> None:
    identity = "\x1f".join(["s_1", "c_0123", "open_short", "ETH-USDT", "SELL", "open", "1.25", "7"])
    digest = hashlib.blake2b(identity.encode(), digest_size=32).hexdigest()
    assert client_order_id(KEY, profile) == ("tl" + digest)[: profile.client_id_max_len]


def test_a_reduce_only_order_is_named_reduce_in_its_identity() -> None:
    profile = next(iter(VENUES.values()))
    reduce = OrderKey("s_1", "c_1", "close_long", "BTC-USDT", TradeSide.SELL, True, Decimal(2))
    identity = "\x1f".join(["s_1", "c_1", "close_long", "BTC-USDT", "SELL", "reduce", "2", "0"])
    digest = hashlib.blake2b(identity.encode(), digest_size=32).hexdigest()
    assert client_order_id(reduce, profile) == ("tl" + digest)[: profile.client_id_max_len]


def test_an_empty_compose_id_or_a_negative_sequence_is_refused() -> None:
    profile = next(iter(VENUES.values()))
    with pytest.raises(ValueError):
        client_order_id(
            OrderKey("s", "", "open_long", "X-USDT", TradeSide.BUY, False, Decimal(1)), profile
        )
    with pytest.raises(ValueError):
        client_order_id(
            OrderKey("s", "c", "open_long", "X-USDT", TradeSide.BUY, False, Decimal(1), -1), profile
        )
    assert client_order_id(
        OrderKey("s", "c", "open_long", "X-USDT", TradeSide.BUY, False, Decimal(1), 0), profile
    ).startswith("tl")
