"""Order sizing on literal markets: every expected amount, reason and rule worked out by hand.

The property test in ``test_sizing.py`` checks the arithmetic over random markets; these pin the
edges it cannot name: exact reasons, limits met exactly, which market limit ccxt's structure sets.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.trading.errors import ConfigError
from tradeloop.trading.execution.sizing import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    Dropped,
    MarketRules,
    OrderCaps,
    SizedOrder,
    floor_to_step,
    limit_price,
    size_order,
)

D = Decimal
SPOT = MarketRules(symbol="BTC/USDT", amount_step=D("0.001"))


def sent(result: SizedOrder | Dropped) -> SizedOrder:
    assert isinstance(result, SizedOrder), result
    return result


def dropped(result: SizedOrder | Dropped) -> str:
    assert isinstance(result, Dropped), result
    return result.reason


@pytest.mark.parametrize(
    ("quantity", "price", "reason"),
    [
        (D(0), D(100), "quantity 0 must be above zero"),
        (D("-0.5"), D(100), "quantity -0.5 must be above zero"),
        (D("Infinity"), D(100), "quantity Infinity must be above zero"),
        (D("NaN"), D(100), "quantity NaN must be above zero"),
        (D(1), D(0), "reference price 0 must be above zero"),
        (D(1), D(-3), "reference price -3 must be above zero"),
        (D(1), D("Infinity"), "reference price Infinity must be above zero"),
        (D(1), D("NaN"), "reference price NaN must be above zero"),
    ],
)
def test_a_quantity_or_price_that_is_not_a_positive_number_is_dropped_naming_it(
    quantity: Decimal, price: Decimal, reason: str
) -> None:
    assert dropped(size_order(quantity, price, SPOT)) == reason


def test_an_order_below_one_step_names_the_market_s_step() -> None:
    reason = dropped(size_order(D("0.0004"), D(100), SPOT))
    assert reason == "quantity rounds to zero at the market's step 0.001"
    no_precision = MarketRules(symbol="BTC/USDT")
    reason = dropped(size_order(D("1e-13"), D(100), no_precision))
    assert reason == "quantity rounds to zero at the market's step 1E-12"


def test_a_cap_that_leaves_nothing_drops_the_open_by_the_cap_s_name() -> None:
    spent = OrderCaps(remaining_daily_value=D(0))
    assert (
        dropped(size_order(D(1), D(100), SPOT, spent))
        == "nothing left under max_daily_traded_value"
    )
    no_order_value = OrderCaps(max_order_value=D(0))
    assert (
        dropped(size_order(D(1), D(100), SPOT, no_order_value))
        == "nothing left under max_order_value"
    )


def test_an_order_worth_exactly_its_cap_is_sent_whole_and_not_reported_as_clamped() -> None:
    # 0.5 x 100 = 50 = the cap: nothing to clamp
    order = sent(size_order(D("0.5"), D(100), SPOT, OrderCaps(max_order_value=D(50))))
    assert (order.amount, order.base_quantity, order.notional, order.clamped_by) == (
        D("0.5"),
        D("0.5"),
        D(50),
        (),
    )
    plain = sent(size_order(D("0.5"), D(100), SPOT))
    assert plain.clamped_by == ()


def test_a_clamped_order_names_every_limit_that_set_its_size() -> None:
    market_max = MarketRules(symbol="BTC/USDT", amount_step=D("0.001"), max_amount=D("0.2"))
    order = sent(size_order(D(1), D(100), market_max))
    assert (order.amount, order.clamped_by) == (D("0.2"), ("the market's maximum amount",))
    # 30 / 100 = 0.3 for both caps: a tie names both, in this order
    caps = OrderCaps(max_order_value=D(30), remaining_daily_value=D(30))
    order = sent(size_order(D(1), D(100), SPOT, caps))
    assert (order.amount, order.notional) == (D("0.3"), D(30))
    assert order.clamped_by == ("max_order_value", "max_daily_traded_value")
    daily = sent(size_order(D(1), D(100), SPOT, OrderCaps(remaining_daily_value=D(20))))
    assert daily.clamped_by == ("max_daily_traded_value",)


def test_an_order_a_cap_shrinks_below_one_step_says_which_cap_did_it() -> None:
    # 0.05 / 100 = 0.0005 allowed, below the 0.001 step
    caps = OrderCaps(max_order_value=D("0.05"), remaining_daily_value=D("0.05"))
    reason = dropped(size_order(D(1), D(100), SPOT, caps))
    assert reason == (
        "quantity rounds to zero at the market's step 0.001"
        " after clamping by max_order_value, max_daily_traded_value"
    )


def test_an_order_of_exactly_the_minimum_amount_or_value_is_sent() -> None:
    minimums = MarketRules(
        symbol="BTC/USDT", amount_step=D("0.001"), min_amount=D("0.01"), min_cost=D(5)
    )
    assert sent(size_order(D("0.05"), D(100), minimums)).notional == D(5)  # value exactly 5
    assert sent(size_order(D("0.01"), D(1000), minimums)).amount == D("0.01")  # amount exactly min
    assert dropped(size_order(D("0.009"), D(1000), minimums)) == (
        "amount 0.009 is below the market's minimum 0.01"
    )
    # the value is the exact Decimal product 0.049 x 100 = 4.900, printed as such
    assert dropped(size_order(D("0.049"), D(100), minimums)) == (
        "order value 4.900 is below the market's minimum 5"
    )


def test_a_close_below_the_minimum_value_is_dropped_unless_the_venue_exempts_closes() -> None:
    minimums = MarketRules(symbol="BTC/USDT", amount_step=D("0.001"), min_cost=D(5))
    assert dropped(size_order(D("0.01"), D(100), minimums, reduce_only=True)) == (
        "order value 1.000 is below the market's minimum 5"
    )
    exempt = size_order(
        D("0.01"), D(100), minimums, reduce_only=True, exempt_min_cost_when_reducing=True
    )
    assert sent(exempt).notional == D(1)


def test_flooring_without_a_positive_step_leaves_the_value_as_is() -> None:
    assert floor_to_step(D("1.23456"), None) == D("1.23456")
    assert floor_to_step(D("1.23456"), D(0)) == D("1.23456")
    assert floor_to_step(D("1.23456"), D("0.01")) == D("1.23")


def test_a_limit_price_rounds_toward_the_reference_on_both_sides() -> None:
    # buy: 100.03 x 1.0025 = 100.280075 -> down to 100.2; sell: 100 x 0.9972 = 99.72 -> up to 99.8
    assert limit_price(D("100.03"), 25, True, D("0.1")) == D("100.2")
    assert limit_price(D(100), 28, False, D("0.1")) == D("99.8")
    # without a tick (or a zero one) the raw price is kept
    assert limit_price(D(100), 10, True, None) == D("100.1")
    assert limit_price(D(100), 10, False, D(0)) == D("99.9")


MARKET = {
    "symbol": "BTC/USDT:USDT",
    "contract": True,
    "contractSize": 0.01,
    "precision": {"amount": 0.01, "price": 0.1},
    "limits": {"amount": {"min": 0.01, "max": 300}, "market": {"max": 500}, "cost": {"min": 5}},
}


def test_the_lower_of_the_amount_and_the_market_order_maximum_is_the_maximum() -> None:
    assert MarketRules.from_ccxt(MARKET, TICK_SIZE).max_amount == D(300)
    lower_market = {**MARKET, "limits": {**MARKET["limits"], "market": {"max": 200}}}
    assert MarketRules.from_ccxt(lower_market, TICK_SIZE).max_amount == D(200)
    # a limit order is not held to the market-order maximum
    assert MarketRules.from_ccxt(lower_market, TICK_SIZE, market_order=False).max_amount == D(300)
    only_amount = {**MARKET, "limits": {"amount": {"max": 300}}}
    assert MarketRules.from_ccxt(only_amount, TICK_SIZE).max_amount == D(300)
    only_market = {**MARKET, "limits": {"market": {"max": 200}}}
    assert MarketRules.from_ccxt(only_market, TICK_SIZE).max_amount == D(200)
    assert MarketRules.from_ccxt({**MARKET, "limits": {}}, TICK_SIZE).max_amount is None


def test_only_contract_markets_have_a_contract_size_and_it_defaults_to_one() -> None:
    spot = MarketRules.from_ccxt({**MARKET, "contract": False}, TICK_SIZE)
    assert spot.contract_size == D(1)
    unsized = MarketRules.from_ccxt({**MARKET, "contractSize": None}, TICK_SIZE)
    assert unsized.contract_size == D(1)


def test_zero_or_missing_limits_mean_no_limit_and_text_limits_are_read() -> None:
    zeros = {**MARKET, "limits": {"amount": {"min": 0, "max": 0}, "cost": {"min": 0.0}}}
    rules = MarketRules.from_ccxt(zeros, TICK_SIZE)
    assert (rules.min_amount, rules.max_amount, rules.min_cost) == (None, None, None)
    negative = {**MARKET, "limits": {"amount": {"min": -1}}, "contractSize": -5}
    rules = MarketRules.from_ccxt(negative, TICK_SIZE)
    assert (rules.min_amount, rules.contract_size) == (None, D(1))
    text = {**MARKET, "limits": {"amount": {"min": "0.02"}, "cost": {"min": "5.5"}}}
    rules = MarketRules.from_ccxt(text, TICK_SIZE)
    assert (rules.min_amount, rules.min_cost) == (D("0.02"), D("5.5"))
    places = MarketRules.from_ccxt({**MARKET, "precision": {"amount": 2}}, DECIMAL_PLACES)
    assert (places.amount_step, places.price_step) == (D("0.01"), None)


def test_significant_digit_precision_is_refused_naming_the_market() -> None:
    with pytest.raises(ConfigError, match=r"^BTC/USDT:USDT: significant-digit precision"):
        MarketRules.from_ccxt(MARKET, SIGNIFICANT_DIGITS)
    price_only = {**MARKET, "precision": {"price": 3}}
    with pytest.raises(ConfigError, match=r"^BTC/USDT:USDT: significant-digit precision"):
        MarketRules.from_ccxt(price_only, SIGNIFICANT_DIGITS)
