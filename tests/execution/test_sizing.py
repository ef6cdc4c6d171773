"""Order sizing over random market precision, minimums, contract sizes and caps (pure, fast)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ccxt.base.decimal_to_precision import TICK_SIZE, TRUNCATE, decimal_to_precision
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.hypothesis_budget import examples
from tradeloop.trading.execution.sizing import (
    DECIMAL_PLACES,
    FALLBACK_STEP,
    Dropped,
    MarketRules,
    OrderCaps,
    SizedOrder,
    floor_to_step,
    limit_price,
    size_order,
)

D = Decimal
F = Fraction
EXAMPLES = settings(
    max_examples=examples(5000), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def decimals(low: str, high: str, places: int = 8) -> st.SearchStrategy[Decimal]:
    """Decimals with ``places`` digits, drawn as scaled integers (much faster than st.decimals)."""
    scale = 10**places
    return st.integers(int(D(low) * scale), int(D(high) * scale)).map(
        lambda n: D(n).scaleb(-places)
    )


# Strategies are built once: composing them inside a draw re-validates them on every example.
STEP = st.tuples(st.sampled_from([1, 2, 5, 25]), st.integers(0, 8)).map(
    lambda t: D(t[0]).scaleb(-t[1])
)
MAYBE_STEP = st.one_of(st.none(), STEP)
MIN_UNITS = st.one_of(st.none(), st.integers(1, 50))
MAX_UNITS = st.one_of(st.none(), st.integers(100, 10**7))
MIN_COST = st.one_of(st.none(), decimals("0.01", "200", 2))
CONTRACT_SIZE = st.sampled_from([D(1), D("0.1"), D("0.01"), D("0.001"), D(10), D(100)])
CAP = st.one_of(st.none(), decimals("0", "100000", 2))
DAILY_LEFT = st.one_of(st.none(), decimals("-100", "100000", 2))
QUANTITY = decimals("0.00000001", "5000")
PRICE = decimals("0.0001", "1000000", 4)


def _rules(step, min_units, max_units, min_cost, contract_size) -> MarketRules:  # noqa: ANN001
    unit = step or FALLBACK_STEP
    return MarketRules(
        symbol="X/USDT:USDT",
        amount_step=step,
        min_amount=unit * min_units if min_units is not None else None,
        max_amount=unit * max_units if max_units is not None else None,
        min_cost=min_cost,
        contract_size=contract_size,
    )


MARKETS = st.builds(_rules, MAYBE_STEP, MIN_UNITS, MAX_UNITS, MIN_COST, CONTRACT_SIZE)
CAPS = st.builds(OrderCaps, max_order_value=CAP, remaining_daily_value=DAILY_LEFT)


@EXAMPLES
@given(
    rules=MARKETS,
    limits=CAPS,
    quantity=QUANTITY,
    price=PRICE,
    reduce_only=st.booleans(),
    exempt=st.booleans(),
)
def test_every_sent_amount_is_the_reference_amount_and_every_drop_is_justified(
    rules: MarketRules,
    limits: OrderCaps,
    quantity: Decimal,
    price: Decimal,
    reduce_only: bool,
    exempt: bool,
) -> None:
    sized = size_order(
        quantity,
        price,
        rules,
        limits,
        reduce_only=reduce_only,
        exempt_min_cost_when_reducing=exempt,
    )
    expected = reference_sizing(quantity, price, rules, limits, reduce_only, exempt)
    if isinstance(sized, Dropped):
        event("dropped" + (" after clamping" if "clamping" in sized.reason else ""))
        assert isinstance(expected, str), f"dropped ({sized.reason}); {expected} was sendable"
        assert expected in sized.reason
        return
    assert sized.amount == expected
    event("sent" + (" (clamped)" if sized.clamped_by else ""))
    amount = sized.amount
    assert amount > 0
    assert amount % (rules.amount_step or FALLBACK_STEP) == 0
    if rules.min_amount is not None:
        assert amount >= rules.min_amount
    if rules.max_amount is not None:
        assert amount <= rules.max_amount
    assert sized.base_quantity == amount * rules.contract_size
    assert sized.base_quantity <= quantity  # never more than asked
    value = sized.base_quantity * price
    if rules.min_cost is not None and not (reduce_only and exempt):
        assert value >= rules.min_cost
    if not reduce_only:
        for cap in (limits.max_order_value, limits.remaining_daily_value):
            if cap is not None:
                assert value <= cap
    _assert_not_rounded_more_than_needed(sized, rules, limits, quantity, price, reduce_only)


def reference_sizing(
    quantity: Decimal,
    price: Decimal,
    rules: MarketRules,
    caps: OrderCaps,
    reduce_only: bool,
    exempt: bool,
) -> Fraction | str:
    """The amount to send, from the definitions in exact rationals, or the kind of reason to drop:
    the asked amount in order units, capped by the venue's maximum and (opens only) by what the
    value caps leave, floored to the step; dropped when a cap leaves nothing, when it floors to
    zero, or below the venue's minimum amount or (unless exempt when reducing) minimum value."""
    unit_value = F(price) * F(rules.contract_size)
    step = F(rules.amount_step or FALLBACK_STEP)
    amount = F(quantity) / F(rules.contract_size)
    limits = [F(rules.max_amount)] if rules.max_amount is not None else []
    if not reduce_only:
        caps_left = [c for c in (caps.max_order_value, caps.remaining_daily_value) if c is not None]
        if any(c <= 0 for c in caps_left):
            return "nothing left under"
        limits += [F(c) / unit_value for c in caps_left]
    amount = min([amount, *limits])
    amount = (amount // step) * step
    if amount <= 0:
        return "rounds to zero"
    if rules.min_amount is not None and amount < rules.min_amount:
        return "below the market's minimum"
    min_cost_applies = not (reduce_only and exempt)
    if rules.min_cost is not None and amount * unit_value < rules.min_cost and min_cost_applies:
        return "below the market's minimum"
    return amount


def _assert_not_rounded_more_than_needed(
    sized: SizedOrder,
    rules: MarketRules,
    limits: OrderCaps,
    quantity: Decimal,
    price: Decimal,
    reduce_only: bool,
) -> None:
    """One more step would break a bound: rounding went down to the step, no further."""
    bigger = sized.amount + (rules.amount_step or FALLBACK_STEP)
    base = bigger * rules.contract_size
    over_cap = not reduce_only and any(
        cap is not None and base * price > cap
        for cap in (limits.max_order_value, limits.remaining_daily_value)
    )
    over_max = rules.max_amount is not None and bigger > rules.max_amount
    assert base > quantity or over_cap or over_max


@settings(max_examples=examples(1000), deadline=None)
@given(rules=MARKETS, price=PRICE, percent=st.integers(1, 99))
def test_a_quantity_below_one_step_is_dropped_with_a_reason(
    rules: MarketRules, price: Decimal, percent: int
) -> None:
    step = rules.amount_step or FALLBACK_STEP
    fraction = percent * step / 100
    sized = size_order(fraction * rules.contract_size, price, rules)
    assert isinstance(sized, Dropped)
    assert "rounds to zero" in sized.reason


@settings(max_examples=examples(1000), deadline=None)
@given(value=decimals("0", "100000", 10), step=STEP)
def test_floor_to_step_agrees_with_ccxts_own_truncation(value: Decimal, step: Decimal) -> None:
    ours = floor_to_step(value, step)
    theirs = decimal_to_precision(str(value), TRUNCATE, str(step), TICK_SIZE)
    assert ours == D(theirs)


def test_rules_are_read_from_a_ccxt_market_including_contract_size_and_market_limits() -> None:
    market = {
        "symbol": "BTC/USDT:USDT",
        "contract": True,
        "contractSize": 0.01,
        "precision": {"amount": 0.01, "price": 0.1},
        "limits": {
            "amount": {"min": 0.01, "max": 10000},
            "market": {"max": 500},
            "cost": {"min": 5},
        },
    }
    rules = MarketRules.from_ccxt(market, precision_mode=4)
    assert rules == MarketRules(
        symbol="BTC/USDT:USDT",
        amount_step=D("0.01"),
        min_amount=D("0.01"),
        max_amount=D(500),
        min_cost=D(5),
        contract_size=D("0.01"),
        price_step=D("0.1"),
    )
    places = MarketRules.from_ccxt(
        {**market, "precision": {"amount": 3, "price": 0}}, DECIMAL_PLACES
    )
    assert (places.amount_step, places.price_step) == (D("0.001"), D(1))


def test_base_units_become_contracts_with_the_contract_size() -> None:
    rules = MarketRules(symbol="BTC/USDT:USDT", amount_step=D(1), contract_size=D("0.01"))
    sized = size_order(D("0.257"), D(50000), rules)
    assert isinstance(sized, SizedOrder)
    assert (sized.amount, sized.base_quantity, sized.notional) == (D(25), D("0.25"), D(12500))


def test_an_exhausted_daily_cap_drops_opens_but_not_closes() -> None:
    rules = MarketRules(symbol="BTC/USDT", amount_step=D("0.001"))
    spent = OrderCaps(remaining_daily_value=D(0))
    dropped = size_order(D("0.01"), D(50000), rules, spent)
    assert isinstance(dropped, Dropped) and "max_daily_traded_value" in dropped.reason
    assert isinstance(size_order(D("0.01"), D(50000), rules, spent, reduce_only=True), SizedOrder)


def test_a_limit_price_is_within_the_slippage_and_on_the_tick() -> None:
    assert limit_price(D(50000), 10, True, D("0.1")) == D("50050.0")
    assert limit_price(D("100.03"), 25, False, D("0.1")) == D("99.8")  # 99.779925 rounded up
