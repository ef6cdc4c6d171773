"""Client order ids: deterministic, distinct, inside each venue's length and alphabet."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hypothesis_budget import examples
from tradeloop.trading.execution.client_ids import client_order_id
from tradeloop.trading.execution.venues import VENUES

PROFILES = list(VENUES.values())


@settings(max_examples=examples(500), deadline=None)
@given(compose_id=st.text(min_size=1, max_size=80), index=st.integers(0, 10_000))
def test_every_venue_accepts_the_id_and_the_same_instruction_gets_the_same_id(
    compose_id: str, index: int
) -> None:
    for profile in PROFILES:
        first = client_order_id(compose_id, index, profile)
        assert profile.client_id_ok(first), (profile.name, first)
        assert client_order_id(compose_id, index, profile) == first


def test_instructions_of_one_cycle_and_of_different_cycles_never_share_an_id() -> None:
    for profile in PROFILES:
        ids = {client_order_id(f"c_{n}", i, profile) for n in range(50) for i in range(20)}
        assert len(ids) == 50 * 20


def test_the_shortest_limit_still_leaves_a_long_digest() -> None:
    shortest = min(PROFILES, key=lambda p: p.client_id_max_len)
    assert shortest.exchange_id == "okx"
    assert len(client_order_id("c_x", 0, shortest)) == 32
