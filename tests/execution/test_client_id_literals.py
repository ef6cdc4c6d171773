"""Client order ids are pinned to their definition: a restarted (or upgraded) process must find
its orders at the venue under the very ids it sent them with (an intent keeps the id it was sent
with, so lookups never recompute it; new orders use this definition)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from tradeloop.trading.execution.client_ids import OrderKey, client_order_id
from tradeloop.trading.execution.venues import VENUES
from tradeloop.trading.models import TradeSide

KEY = OrderKey(
    strategy_id="s_1",
    compose_id="stop_s_1_28_3",
    action="close_long",
    symbol="ETH-USDT",
    side=TradeSide.SELL,
    reduce_only=True,
    quantity=Decimal("0.7910"),
    sequence=0,
)


@pytest.mark.parametrize("profile", list(VENUES.values()), ids=lambda p: p.name)
def test_the_id_is_tl_and_the_blake2b_digest_of_what_the_order_is_cut_to_the_venue(
    profile,
) -> None:
    text = "s_1\x1fstop_s_1_28_3\x1fclose_long\x1fETH-USDT\x1fSELL\x1freduce\x1f0.791\x1f0"
    digest = hashlib.blake2b(text.encode(), digest_size=32).hexdigest()
    expected = ("tl" + digest)[: profile.client_id_max_len]
    assert client_order_id(KEY, profile) == expected


def test_an_empty_compose_id_or_a_negative_sequence_is_refused() -> None:
    profile = next(iter(VENUES.values()))
    with pytest.raises(ValueError):
        client_order_id(_with(compose_id=""), profile)
    with pytest.raises(ValueError):
        client_order_id(_with(sequence=-1), profile)


def _with(**changes: object) -> OrderKey:
    from dataclasses import replace

    return replace(KEY, **changes)  # type: ignore[arg-type]
