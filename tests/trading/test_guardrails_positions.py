"""Guardrails with positions already held: each case states the kept quantity and the drop reason.

Limits are built directly (not from a request) so every number in play is visible here: BTC at 100,
ETH at 10, fee 10 bps + slippage 5 bps + the 20 bps safety buffer = 35 bps of buying-power headroom.
"""

from __future__ import annotations

import pytest

from tests.fakes import instruction, snapshot
from tradeloop.trading.decision.guardrails import GuardLimits, apply_guardrails
from tradeloop.trading.models import (
    ComposeContext,
    ExchangeConfig,
    InstrumentRef,
    MarketType,
    PortfolioView,
    PositionSnapshot,
    TradeAction,
    TradeDigest,
    TradeSide,
    TradingConfig,
    UserRequest,
)

BUY, SELL = TradeSide.BUY, TradeSide.SELL
OPEN_LONG, OPEN_SHORT = TradeAction.OPEN_LONG, TradeAction.OPEN_SHORT
CLOSE_LONG, CLOSE_SHORT = TradeAction.CLOSE_LONG, TradeAction.CLOSE_SHORT
HEADROOM = 1.0035


def limits(market: MarketType = MarketType.PERPETUAL, **overrides) -> GuardLimits:
    values = {
        "symbols": frozenset({"BTC-USDT", "ETH-USDT"}),
        "market_type": market,
        "max_leverage": 3.0,
        "max_positions": 5,
        "fee_bps": 10.0,
        "slippage_bps": 5.0,
    } | overrides
    return GuardLimits(**values)


def context(positions: dict[str, float] | None = None, buying_power: float = 1e9) -> ComposeContext:
    view = PortfolioView(
        strategy_id="s",
        ts=0,
        account_balance=buying_power,
        buying_power=buying_power,
        positions={
            s: PositionSnapshot(instrument=InstrumentRef(symbol=s), quantity=q, avg_price=1)
            for s, q in (positions or {}).items()
        },
    )
    return ComposeContext(
        ts=0,
        compose_id="c_test",
        strategy_id="s",
        features=[snapshot("BTC-USDT", 100.0), snapshot("ETH-USDT", 10.0)],
        portfolio=view,
        digest=TradeDigest(ts=0),
    )


def order(symbol: str, side: TradeSide, qty: float, action: TradeAction | None, index: int = 0):
    return instruction(symbol, side, qty, action=action, index=index)


def kept(result) -> list[tuple[str, str, float, TradeAction | None]]:
    return [(i.instrument.symbol, i.side, i.quantity, i.action) for i in result.instructions]


def notes(result) -> list[tuple[str, str, str]]:
    return [(n.instruction_id, n.outcome, n.reason) for n in result.notes]


# ------------------------------------------------------------------------------- notional cap


def test_the_notional_cap_counts_the_long_already_held() -> None:
    # 3 BTC held = 300 of a 500 cap: room for 2 more
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 5, OPEN_LONG)],
        context({"BTC-USDT": 3}),
        limits(max_notional_per_symbol=500.0),
    )
    assert kept(result) == [("BTC-USDT", BUY, 2.0, OPEN_LONG)]
    assert notes(result) == [
        ("c_test:0", "clamped", "quantity clamped by max_notional_per_symbol to 2")
    ]


def test_the_notional_cap_counts_the_short_already_held() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", SELL, 5, OPEN_SHORT)],
        context({"BTC-USDT": -4}),
        limits(max_notional_per_symbol=500.0),
    )
    assert kept(result) == [("BTC-USDT", SELL, 1.0, OPEN_SHORT)]
    assert "max_notional_per_symbol to 1" in result.notes[0].reason


def test_a_position_already_at_the_cap_gets_nothing_more() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, OPEN_LONG)],
        context({"BTC-USDT": 6}),
        limits(max_notional_per_symbol=500.0),
    )
    assert kept(result) == []
    assert [n.reason for n in result.notes] == [
        "quantity clamped by max_notional_per_symbol to 0",
        "quantity rounds to zero",
    ]


def test_an_order_exactly_at_the_cap_or_the_order_value_is_not_clamped() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 2, OPEN_LONG)],
        context({"BTC-USDT": 3}),
        limits(max_notional_per_symbol=500.0, max_order_value=200.0),
    )
    assert kept(result) == [("BTC-USDT", BUY, 2.0, OPEN_LONG)]
    assert result.notes == []


def test_the_order_value_cap_clamps_one_order_whatever_is_held() -> None:
    result = apply_guardrails(
        [order("ETH-USDT", BUY, 30, OPEN_LONG)],
        context({"ETH-USDT": 100}),
        limits(max_order_value=150.0),
    )
    assert kept(result) == [("ETH-USDT", BUY, 15.0, OPEN_LONG)]
    assert notes(result) == [("c_test:0", "clamped", "quantity clamped by max_order_value to 15")]


# ------------------------------------------------------------------- closes before opens, shorts


def test_a_short_close_frees_notional_room_for_a_later_open_in_the_same_cycle() -> None:
    # short 4 BTC (400 of a 500 cap); buy back 3 -> short 1 (100): a new short may add 4
    result = apply_guardrails(
        [
            order("BTC-USDT", SELL, 10, OPEN_SHORT, index=0),
            order("BTC-USDT", BUY, 3, CLOSE_SHORT, index=1),
        ],
        context({"BTC-USDT": -4}),
        limits(max_notional_per_symbol=500.0),
    )
    assert kept(result) == [
        ("BTC-USDT", BUY, 3.0, CLOSE_SHORT),
        ("BTC-USDT", SELL, 4.0, OPEN_SHORT),
    ]
    assert notes(result) == [
        ("c_test:0", "clamped", "quantity clamped by max_notional_per_symbol to 4")
    ]


def test_closing_one_position_frees_its_slot_for_a_new_symbol() -> None:
    result = apply_guardrails(
        [order("ETH-USDT", BUY, 1, OPEN_LONG, index=0), order("BTC-USDT", BUY, 2, CLOSE_SHORT, 1)],
        context({"BTC-USDT": -2}),
        limits(max_positions=1),
    )
    assert kept(result) == [("BTC-USDT", BUY, 2.0, CLOSE_SHORT), ("ETH-USDT", BUY, 1.0, OPEN_LONG)]
    assert result.notes == []


def test_a_partial_close_keeps_the_slot_taken() -> None:
    result = apply_guardrails(
        [order("ETH-USDT", BUY, 1, OPEN_LONG, index=0), order("BTC-USDT", BUY, 1, CLOSE_SHORT, 1)],
        context({"BTC-USDT": -2}),
        limits(max_positions=1),
    )
    assert kept(result) == [("BTC-USDT", BUY, 1.0, CLOSE_SHORT)]
    assert notes(result) == [("c_test:0", "dropped", "max_positions 1 reached")]


def test_two_closes_of_one_short_never_buy_back_more_than_is_held() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 2, CLOSE_SHORT, 0), order("BTC-USDT", BUY, 2, CLOSE_SHORT, 1)],
        context({"BTC-USDT": -3}),
        limits(),
    )
    assert kept(result) == [
        ("BTC-USDT", BUY, 2.0, CLOSE_SHORT),
        ("BTC-USDT", BUY, 1.0, CLOSE_SHORT),
    ]
    assert notes(result) == [
        ("c_test:1", "clamped", "close quantity clamped to the 1 left after earlier closes")
    ]
    third = apply_guardrails(
        [order("BTC-USDT", BUY, 3, CLOSE_SHORT, 0), order("BTC-USDT", BUY, 1, CLOSE_SHORT, 1)],
        context({"BTC-USDT": -3}),
        limits(),
    )
    assert kept(third) == [("BTC-USDT", BUY, 3.0, CLOSE_SHORT)]
    assert notes(third) == [("c_test:1", "dropped", "no BTC-USDT position left to close")]


def test_closing_a_short_with_a_sell_or_a_long_that_is_not_held_is_dropped() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", SELL, 1, CLOSE_SHORT, 0), order("ETH-USDT", SELL, 1, CLOSE_LONG, 1)],
        context({"BTC-USDT": -1, "ETH-USDT": -1}),
        limits(),
    )
    assert kept(result) == []
    assert notes(result) == [
        ("c_test:0", "dropped", "close_short must be a BUY"),
        ("c_test:1", "dropped", "no long position to close"),
    ]


def test_a_short_close_larger_than_the_short_is_clamped_to_it() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 5, CLOSE_SHORT)], context({"BTC-USDT": -2}), limits()
    )
    assert kept(result) == [("BTC-USDT", BUY, 2.0, CLOSE_SHORT)]
    assert notes(result) == [
        ("c_test:0", "clamped", "close quantity clamped to the position size 2.0")
    ]


def test_selling_more_than_the_long_held_flips_it_into_a_short() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", SELL, 5, None)], context({"BTC-USDT": 2}), limits()
    )
    assert kept(result) == [
        ("BTC-USDT", SELL, 2.0, CLOSE_LONG),
        ("BTC-USDT", SELL, 3.0, OPEN_SHORT),
    ]
    assert [i.instruction_id for i in result.instructions] == ["c_test:0.close", "c_test:0.open"]
    assert notes(result) == [
        ("c_test:0", "split", "reverses the position: split into a close and an open")
    ]


def test_an_explicit_open_against_a_held_short_closes_it_and_opens_all_that_was_asked() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 3, OPEN_LONG)], context({"BTC-USDT": -2}), limits()
    )
    assert kept(result) == [("BTC-USDT", BUY, 2.0, CLOSE_SHORT), ("BTC-USDT", BUY, 3.0, OPEN_LONG)]


def test_buying_less_than_the_short_held_only_reduces_it() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, None)], context({"BTC-USDT": -2}), limits()
    )
    assert kept(result) == [("BTC-USDT", BUY, 1.0, CLOSE_SHORT)]
    assert result.notes == []


def test_a_partial_close_rounds_down_to_the_step_and_a_full_one_is_exact() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", SELL, 1.237, CLOSE_LONG)],
        context({"BTC-USDT": 2.5}),
        limits(quantity_step=0.01),
    )
    assert kept(result) == [("BTC-USDT", SELL, 1.23, CLOSE_LONG)]
    full = apply_guardrails(
        [order("BTC-USDT", SELL, 2.5, CLOSE_LONG)],
        context({"BTC-USDT": 2.5}),
        limits(quantity_step=1.0),
    )
    assert kept(full) == [("BTC-USDT", SELL, 2.5, CLOSE_LONG)]
    tiny = apply_guardrails(
        [order("BTC-USDT", SELL, 0.004, CLOSE_LONG)],
        context({"BTC-USDT": 2.5}),
        limits(quantity_step=0.01),
    )
    assert kept(tiny) == []
    assert notes(tiny) == [("c_test:0", "dropped", "close quantity rounds to zero at step 0.01")]


# --------------------------------------------------------------------------- venue minimums


def test_an_open_below_the_minimum_trade_quantity_is_dropped_and_one_at_it_is_kept() -> None:
    below = apply_guardrails(
        [order("BTC-USDT", BUY, 0.04, OPEN_LONG)], context(), limits(min_trade_qty=0.05)
    )
    assert kept(below) == []
    assert notes(below) == [
        ("c_test:0", "dropped", "quantity 0.04 is below the market minimum 0.05")
    ]
    at = apply_guardrails(
        [order("BTC-USDT", BUY, 0.05, OPEN_LONG)], context(), limits(min_trade_qty=0.05)
    )
    assert kept(at) == [("BTC-USDT", BUY, 0.05, OPEN_LONG)]


def test_an_open_below_the_minimum_notional_is_dropped_and_one_at_it_is_kept() -> None:
    below = apply_guardrails(
        [order("BTC-USDT", BUY, 0.04, OPEN_LONG)], context(), limits(min_notional=5.0)
    )
    assert kept(below) == []
    assert notes(below) == [
        ("c_test:0", "dropped", "order value 4 is below the market minimum 5.0")
    ]
    at = apply_guardrails(
        [order("BTC-USDT", BUY, 0.05, OPEN_LONG)], context(), limits(min_notional=5.0)
    )
    assert kept(at) == [("BTC-USDT", BUY, 0.05, OPEN_LONG)]


def test_without_a_venue_minimum_an_open_worth_less_than_one_quote_unit_is_dropped() -> None:
    below = apply_guardrails([order("BTC-USDT", BUY, 0.009, OPEN_LONG)], context(), limits())
    assert kept(below) == []
    assert below.notes[0].reason == (
        "order value 0.9 is below the minimum notional 1 (the default when the venue states none)"
    )
    at = apply_guardrails([order("BTC-USDT", BUY, 0.01, OPEN_LONG)], context(), limits())
    assert kept(at) == [("BTC-USDT", BUY, 0.01, OPEN_LONG)]


def test_a_partial_close_below_the_minimum_is_dropped_but_a_whole_dust_close_is_kept() -> None:
    partial = apply_guardrails(
        [order("BTC-USDT", SELL, 0.02, CLOSE_LONG)],
        context({"BTC-USDT": 1}),
        limits(min_notional=5.0),
    )
    assert kept(partial) == []
    assert partial.notes[0].reason.startswith("partial close dropped: order value 2 is below")
    whole = apply_guardrails(
        [order("BTC-USDT", SELL, 0.02, CLOSE_LONG)],
        context({"BTC-USDT": 0.02}),
        limits(min_notional=5.0),
    )
    assert kept(whole) == [("BTC-USDT", SELL, 0.02, CLOSE_LONG)]


def test_a_clamp_that_leaves_less_than_the_minimum_drops_the_order() -> None:
    # 499 of a 500 cap held: room for 0.01 BTC = 1, below the 5 minimum notional
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, OPEN_LONG)],
        context({"BTC-USDT": 4.99}),
        limits(max_notional_per_symbol=500.0, min_notional=5.0),
    )
    assert kept(result) == []
    assert [n.outcome for n in result.notes] == ["clamped", "dropped"]
    assert "below the market minimum 5.0" in result.notes[1].reason


# ----------------------------------------------------------------------------- buying power


def test_buying_power_keeps_headroom_for_fees_and_slippage_and_is_spent_in_order() -> None:
    # 1003.5 of buying power at 35 bps headroom buys exactly 10 BTC at 100; nothing is left for ETH
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 20, OPEN_LONG, 0), order("ETH-USDT", BUY, 1, OPEN_LONG, 1)],
        context(buying_power=1003.5),
        limits(),
    )
    assert kept(result) == [("BTC-USDT", BUY, 10.0, OPEN_LONG)]
    assert notes(result) == [
        ("c_test:0", "clamped", "quantity clamped to buying power 1003.50"),
        ("c_test:1", "clamped", "quantity clamped to buying power 0.00"),
        ("c_test:1", "dropped", "quantity rounds to zero"),
    ]


def test_an_order_whose_cost_with_headroom_fits_exactly_is_not_clamped() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 10, OPEN_LONG)], context(buying_power=1003.5), limits()
    )
    assert kept(result) == [("BTC-USDT", BUY, 10.0, OPEN_LONG)]
    assert result.notes == []


def test_headroom_is_fee_plus_slippage_plus_the_safety_buffer() -> None:
    assert float(limits().headroom) == pytest.approx(HEADROOM)
    assert float(limits(fee_bps=0.0, slippage_bps=0.0).headroom) == pytest.approx(1.002)


# --------------------------------------------------------------------------- stops and targets


@pytest.mark.parametrize(
    ("side", "action", "level", "where"),
    [
        (BUY, OPEN_LONG, "stop_loss", "below"),
        (BUY, OPEN_LONG, "take_profit", "above"),
        (SELL, OPEN_SHORT, "stop_loss", "above"),
        (SELL, OPEN_SHORT, "take_profit", "below"),
    ],
)
def test_a_stop_or_target_exactly_at_the_price_is_ignored_and_the_order_kept(
    side, action, level, where
) -> None:
    inst = order("BTC-USDT", side, 1, action).model_copy(update={level: 100.0})
    result = apply_guardrails([inst], context(), limits())
    assert kept(result) == [("BTC-USDT", side, 1.0, action)]
    assert getattr(result.instructions[0], level) is None
    assert notes(result) == [
        ("c_test:0", "clamped", f"{level} 100.0 ignored: must be {where} the price 100.0")
    ]


@pytest.mark.parametrize(
    ("side", "action", "stop", "target"),
    [(BUY, OPEN_LONG, 99.0, 101.0), (SELL, OPEN_SHORT, 101.0, 99.0)],
)
def test_a_stop_and_target_on_the_right_sides_are_kept(side, action, stop, target) -> None:
    inst = order("BTC-USDT", side, 1, action).model_copy(
        update={"stop_loss": stop, "take_profit": target}
    )
    result = apply_guardrails([inst], context(), limits())
    assert (result.instructions[0].stop_loss, result.instructions[0].take_profit) == (stop, target)
    assert result.notes == []


def test_spot_leverage_is_one_and_a_spot_short_open_is_dropped() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, OPEN_LONG, 0), order("ETH-USDT", SELL, 1, OPEN_SHORT, 1)],
        context(),
        limits(MarketType.SPOT),
    )
    assert [(i.quantity, i.leverage) for i in result.instructions] == [(1.0, 1.0)]
    assert notes(result) == [("c_test:1", "dropped", "spot markets cannot open short positions")]


# ------------------------------------------------------------------------------ edges and setup


def test_limits_from_a_request_carry_every_setting_and_the_market_rules() -> None:
    request = UserRequest(
        exchange_config=ExchangeConfig(
            market_type=MarketType.PERPETUAL, fee_bps=4.0, max_slippage_bps=7
        ),
        trading_config=TradingConfig(
            initial_capital=1_000,
            symbols=["BTC-USDT", "ETH-USDT"],
            max_leverage=2,
            max_positions=3,
            max_notional_per_symbol=400,
            max_order_value=150,
        ),
    )
    got = GuardLimits.from_request(request, quantity_step=0.01, min_trade_qty=0.1, min_notional=5.0)
    assert got == GuardLimits(
        symbols=frozenset({"BTC-USDT", "ETH-USDT"}),
        market_type=MarketType.PERPETUAL,
        max_leverage=2.0,
        max_positions=3,
        fee_bps=4.0,
        slippage_bps=7,
        max_notional_per_symbol=400.0,
        max_order_value=150.0,
        quantity_step=0.01,
        min_trade_qty=0.1,
        min_notional=5.0,
    )


def test_a_hold_gives_nothing_and_no_note() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, TradeAction.HOLD)], context({"BTC-USDT": 1}), limits()
    )
    assert (result.instructions, result.notes) == ([], [])


def test_selling_exactly_the_long_held_closes_it_without_opening_anything() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", SELL, 2, None)], context({"BTC-USDT": 2}), limits()
    )
    assert kept(result) == [("BTC-USDT", SELL, 2.0, CLOSE_LONG)]
    assert result.notes == []


@pytest.mark.parametrize("buying_power", [None, -50.0])
def test_no_or_negative_buying_power_opens_nothing(buying_power) -> None:
    ctx = context()
    view = ctx.portfolio.model_copy(update={"buying_power": buying_power})
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, OPEN_LONG)], ctx.model_copy(update={"portfolio": view}), limits()
    )
    assert kept(result) == []
    assert [n.reason for n in result.notes] == [
        "quantity clamped to buying power 0.00",
        "quantity rounds to zero",
    ]


def test_without_a_step_a_quantity_is_cut_down_to_twelve_decimals() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1.0000000000009, OPEN_LONG)], context(), limits()
    )
    assert kept(result) == [("BTC-USDT", BUY, 1.0, OPEN_LONG)]
    step = apply_guardrails(
        [order("BTC-USDT", BUY, 1.29, OPEN_LONG)], context(), limits(quantity_step=0.25)
    )
    assert kept(step) == [("BTC-USDT", BUY, 1.25, OPEN_LONG)]


def test_a_negative_stop_is_ignored() -> None:
    inst = order("BTC-USDT", BUY, 1, OPEN_LONG).model_copy(update={"stop_loss": -5.0})
    result = apply_guardrails([inst], context(), limits())
    assert result.instructions[0].stop_loss is None
    assert notes(result) == [
        ("c_test:0", "clamped", "stop_loss -5.0 ignored: must be below the price 100.0")
    ]


def test_leverage_defaults_to_one_and_is_capped_on_spot() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, OPEN_LONG, 0)], context(), limits(max_leverage=5.0)
    )
    assert result.instructions[0].leverage == 1.0 and result.notes == []
    spot = apply_guardrails(
        [instruction("BTC-USDT", BUY, 1, action=OPEN_LONG, leverage=3.0)],
        context(),
        limits(MarketType.SPOT),
    )
    assert spot.instructions[0].leverage == 1.0
    assert notes(spot) == [("c_test:0", "clamped", "leverage 3.0 clamped to 1.0")]


def test_a_close_of_the_wrong_side_or_of_nothing_is_dropped_naming_what_is_missing() -> None:
    result = apply_guardrails(
        [
            order("BTC-USDT", BUY, 1, CLOSE_LONG, 0),
            order("BTC-USDT", BUY, 1, CLOSE_SHORT, 1),
            order("ETH-USDT", BUY, 1, CLOSE_SHORT, 2),
        ],
        context({"BTC-USDT": 0.5}),
        limits(),
    )
    assert kept(result) == []
    assert notes(result) == [
        ("c_test:0", "dropped", "close_long must be a SELL"),
        ("c_test:1", "dropped", "no short position to close"),
        ("c_test:2", "dropped", "no short position to close"),
    ]


def test_two_closes_of_one_small_long_never_sell_more_than_is_held() -> None:
    result = apply_guardrails(
        [
            order("BTC-USDT", SELL, 0.5, CLOSE_LONG, 0),
            order("BTC-USDT", SELL, 1, CLOSE_LONG, 1),
            order("BTC-USDT", SELL, 1, CLOSE_LONG, 2),
        ],
        context({"BTC-USDT": 1}),
        limits(),
    )
    assert kept(result) == [
        ("BTC-USDT", SELL, 0.5, CLOSE_LONG),
        ("BTC-USDT", SELL, 0.5, CLOSE_LONG),
    ]
    assert notes(result) == [
        ("c_test:1", "clamped", "close quantity clamped to the 0.5 left after earlier closes"),
        ("c_test:2", "dropped", "no BTC-USDT position left to close"),
    ]


def test_a_second_close_over_what_is_left_by_exactly_dust_closes_the_rest_without_a_note() -> None:
    # QUANTITY_DUST is 1e-12: 0.500000000001 asked of the 0.5 left is the same quantity
    result = apply_guardrails(
        [
            order("BTC-USDT", SELL, 0.5, CLOSE_LONG, 0),
            order("BTC-USDT", SELL, 0.500000000001, CLOSE_LONG, 1),
        ],
        context({"BTC-USDT": 1}),
        limits(),
    )
    assert kept(result) == [
        ("BTC-USDT", SELL, 0.5, CLOSE_LONG),
        ("BTC-USDT", SELL, 0.5, CLOSE_LONG),
    ]
    assert notes(result) == []


def test_a_flip_leaves_exactly_a_close_and_an_open_instruction_keeping_the_leverage() -> None:
    asked = instruction("BTC-USDT", SELL, 3, leverage=2.0)
    result = apply_guardrails([asked], context({"BTC-USDT": 1}), limits())
    assert result.instructions == [
        asked.model_copy(
            update={"instruction_id": "c_test:0.close", "quantity": 1.0, "action": CLOSE_LONG}
        ),
        asked.model_copy(
            update={"instruction_id": "c_test:0.open", "quantity": 2.0, "action": OPEN_SHORT}
        ),
    ]


@pytest.mark.parametrize(("stop", "kept_stop"), [(0.0, None), (0.5, 0.5)])
def test_a_zero_stop_is_ignored_and_a_small_positive_one_kept(stop, kept_stop) -> None:
    inst = order("ETH-USDT", BUY, 1, OPEN_LONG).model_copy(update={"stop_loss": stop})
    result = apply_guardrails([inst], context(), limits())
    assert result.instructions[0].stop_loss == kept_stop


def test_opens_earlier_in_the_cycle_count_toward_the_cap_and_the_position_slots() -> None:
    capped = apply_guardrails(
        [order("BTC-USDT", BUY, 3, OPEN_LONG, 0), order("BTC-USDT", BUY, 5, OPEN_LONG, 1)],
        context(),
        limits(max_notional_per_symbol=500.0),
    )
    assert kept(capped) == [("BTC-USDT", BUY, 3.0, OPEN_LONG), ("BTC-USDT", BUY, 2.0, OPEN_LONG)]
    shorts = apply_guardrails(
        [order("BTC-USDT", SELL, 3, OPEN_SHORT, 0), order("BTC-USDT", SELL, 5, OPEN_SHORT, 1)],
        context(),
        limits(max_notional_per_symbol=500.0),
    )
    assert kept(shorts) == [
        ("BTC-USDT", SELL, 3.0, OPEN_SHORT),
        ("BTC-USDT", SELL, 2.0, OPEN_SHORT),
    ]
    slots = apply_guardrails(
        [order("ETH-USDT", BUY, 1, OPEN_LONG, 0), order("BTC-USDT", BUY, 1, OPEN_LONG, 1)],
        context(),
        limits(max_positions=1),
    )
    assert kept(slots) == [("ETH-USDT", BUY, 1.0, OPEN_LONG)]
    assert notes(slots) == [("c_test:1", "dropped", "max_positions 1 reached")]


def test_a_free_slot_next_to_a_held_position_may_be_taken() -> None:
    result = apply_guardrails(
        [order("ETH-USDT", BUY, 1, OPEN_LONG)], context({"BTC-USDT": 1}), limits(max_positions=2)
    )
    assert kept(result) == [("ETH-USDT", BUY, 1.0, OPEN_LONG)]


def test_an_order_without_an_action_gets_the_action_it_amounts_to() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", BUY, 1, None, 0), order("ETH-USDT", SELL, 1, None, 1)],
        context(),
        limits(),
    )
    assert kept(result) == [("BTC-USDT", BUY, 1.0, OPEN_LONG), ("ETH-USDT", SELL, 1.0, OPEN_SHORT)]


def test_a_non_finite_leverage_is_clamped_to_one_and_a_zero_step_means_no_step() -> None:
    result = apply_guardrails(
        [instruction("BTC-USDT", BUY, 1.5, action=OPEN_LONG, leverage=float("inf"))],
        context(),
        limits(quantity_step=0.0),
    )
    assert [(i.quantity, i.leverage) for i in result.instructions] == [(1.5, 1.0)]
    assert notes(result) == [("c_test:0", "clamped", "leverage inf clamped to 1.0")]


def test_opposite_opens_in_one_cycle_net_out_in_the_book() -> None:
    # long 3 then short 2 leave 1 held (100 of the 500 cap): a third open may add 4
    result = apply_guardrails(
        [
            order("BTC-USDT", BUY, 3, OPEN_LONG, 0),
            order("BTC-USDT", SELL, 2, OPEN_SHORT, 1),
            order("BTC-USDT", BUY, 4, OPEN_LONG, 2),
        ],
        context(),
        limits(max_notional_per_symbol=500.0),
    )
    assert kept(result) == [
        ("BTC-USDT", BUY, 3.0, OPEN_LONG),
        ("BTC-USDT", SELL, 2.0, OPEN_SHORT),
        ("BTC-USDT", BUY, 4.0, OPEN_LONG),
    ]
    assert result.notes == []


def test_an_open_without_a_price_is_dropped_naming_its_symbol() -> None:
    ctx = context()
    ctx = ctx.model_copy(update={"features": [snapshot("BTC-USDT", 100.0)]})
    result = apply_guardrails([order("ETH-USDT", BUY, 1, OPEN_LONG)], ctx, limits())
    assert kept(result) == []
    assert result.notes[0].reason.startswith("no current price for ETH-USDT")


def test_nothing_proposed_keeps_nothing_and_a_zero_quantity_is_refused_by_name() -> None:
    empty = apply_guardrails([], context(), limits())
    assert (empty.instructions, empty.notes) == ([], [])
    zero = apply_guardrails([order("BTC-USDT", BUY, 0.0, OPEN_LONG)], context(), limits())
    assert notes(zero) == [
        ("c_test:0", "dropped", "quantity 0.0 must be a finite number above zero")
    ]


def test_a_flip_that_opens_less_than_one_unit_still_opens_it() -> None:
    result = apply_guardrails(
        [order("BTC-USDT", SELL, 2.5, None)], context({"BTC-USDT": 2}), limits()
    )
    assert kept(result) == [
        ("BTC-USDT", SELL, 2.0, CLOSE_LONG),
        ("BTC-USDT", SELL, 0.5, OPEN_SHORT),
    ]
