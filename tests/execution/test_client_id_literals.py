"""Client order ids are pinned to their definition: a restarted (or upgraded) process must find
its orders at the venue under the very ids it sent them with."""

from __future__ import annotations

import hashlib

import pytest

from tradeloop.trading.execution.client_ids import client_order_id
from tradeloop.trading.execution.venues import VENUES


@pytest.mark.parametrize("profile", list(VENUES.values()), ids=lambda p: p.name)
def test_the_id_is_tl_and_the_blake2b_digest_of_compose_id_and_index_cut_to_the_venue(
    profile,
) -> None:
    digest = hashlib.blake2b(b"c_0123\x1f7", digest_size=32).hexdigest()
    expected = ("tl" + digest)[: profile.client_id_max_len]
    assert client_order_id("c_0123", 7, profile) == expected
    assert client_order_id("c_0123", 0, profile).startswith("tl")


def test_an_empty_compose_id_or_a_negative_index_is_refused() -> None:
    profile = next(iter(VENUES.values()))
    with pytest.raises(ValueError):
        client_order_id("", 0, profile)
    with pytest.raises(ValueError):
        client_order_id("c_1", -1, profile)
