"""Client order ids: deterministic, distinct, inside each venue's length and alphabet, and derived
from what the order is, never from where it stands in a list."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import instruction
from tests.hypothesis_budget import examples
from tradeloop.trading.execution.client_ids import OrderKey, client_order_id, order_keys
from tradeloop.trading.models import TradeAction, TradeSide
from tradeloop.trading.venues import VENUES

PROFILES = list(VENUES.values())


def key(
    compose_id: str, symbol: str = "BTC-USDT", sequence: int = 0, **changes: object
) -> OrderKey:
    fields: dict[str, object] = {
        "strategy_id": "s_1",
        "compose_id": compose_id,
        "action": "close_long",
        "symbol": symbol,
        "side": TradeSide.SELL,
        "reduce_only": True,
        "quantity": Decimal("0.028"),
        "sequence": sequence,
        **changes,
    }
    return OrderKey(**fields)  # type: ignore[arg-type]


@settings(max_examples=examples(300), deadline=None)
@given(compose_id=st.text(min_size=1, max_size=80), sequence=st.integers(0, 10_000))
def test_every_venue_accepts_the_id_and_the_same_order_gets_the_same_id(
    compose_id: str, sequence: int
) -> None:
    for profile in PROFILES:
        first = client_order_id(key(compose_id, sequence=sequence), profile)
        assert profile.client_id_ok(first), (profile.name, first)
        assert client_order_id(key(compose_id, sequence=sequence), profile) == first


def test_orders_of_one_cycle_and_of_different_cycles_never_share_an_id() -> None:
    for profile in PROFILES:
        ids = {
            client_order_id(key(f"c_{n}", sequence=i), profile)
            for n in range(50)
            for i in range(20)
        }
        assert len(ids) == 50 * 20


def test_symbol_side_quantity_and_strategy_each_change_the_id() -> None:
    profile = PROFILES[0]
    base = client_order_id(key("stop_s_1_28"), profile)
    others = [
        key("stop_s_1_28", symbol="ETH-USDT"),
        key("stop_s_1_28", side=TradeSide.BUY),
        key("stop_s_1_28", quantity=Decimal("0.791")),
        key("stop_s_1_28", strategy_id="s_2"),
        key("stop_s_1_28", reduce_only=False),
        key("stop_s_1_28", action="close_short"),
    ]
    ids = {client_order_id(k, profile) for k in others}
    assert base not in ids and len(ids) == len(others)


def test_an_order_keeps_its_id_when_the_other_orders_of_its_batch_change() -> None:
    btc = instruction("BTC-USDT", TradeSide.SELL, 0.028, compose_id="stop_s_1_28",
                      action=TradeAction.CLOSE_LONG)  # fmt: skip
    eth = instruction("ETH-USDT", TradeSide.SELL, 0.791, compose_id="stop_s_1_28", index=1,
                      action=TradeAction.CLOSE_LONG)  # fmt: skip
    profile = PROFILES[0]
    both = [client_order_id(k, profile) for k in order_keys("s_1", [btc, eth])]
    [eth_alone] = [client_order_id(k, profile) for k in order_keys("s_1", [eth])]
    assert eth_alone == both[1] and eth_alone != both[0]


def test_identical_orders_of_one_batch_are_numbered() -> None:
    same = instruction("BTC-USDT", TradeSide.BUY, 0.01, compose_id="c_1")
    keys = order_keys("s_1", [same, same, same])
    assert [k.sequence for k in keys] == [0, 1, 2]
    assert len({client_order_id(k, PROFILES[0]) for k in keys}) == 3


def test_the_shortest_limit_still_leaves_a_long_digest() -> None:
    shortest = min(PROFILES, key=lambda p: p.client_id_max_len)
    assert shortest.exchange_id == "okx"
    assert len(client_order_id(key("c_x"), shortest)) == 32
