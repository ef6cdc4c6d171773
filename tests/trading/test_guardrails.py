"""Guardrails decide what is sent; every drop or clamp carries a reason."""

from __future__ import annotations

import math

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


def request(market: MarketType = MarketType.PERPETUAL, **trading: object) -> UserRequest:
    cfg = {"initial_capital": 10_000, "symbols": ["BTC-USDT", "ETH-USDT"], "max_leverage": 3}
    cfg.update(trading)
    if market is MarketType.SPOT:
        cfg["max_leverage"] = 1
    return UserRequest(
        exchange_config=ExchangeConfig(market_type=market),
        trading_config=TradingConfig(**cfg),
    )


def context(
    positions: dict[str, float] | None = None,
    buying_power: float = 10_000,
    prices: dict[str, float] | None = None,
) -> ComposeContext:
    prices = {"BTC-USDT": 100.0, "ETH-USDT": 10.0} if prices is None else prices
    view = PortfolioView(
        strategy_id="s",
        ts=0,
        account_balance=10_000,
        total_value=10_000,
        buying_power=buying_power,
        positions={
            s: PositionSnapshot(instrument=InstrumentRef(symbol=s), quantity=q, avg_price=100)
            for s, q in (positions or {}).items()
        },
    )
    return ComposeContext(
        ts=0,
        compose_id="c_test",
        strategy_id="s",
        features=[snapshot(s, p) for s, p in prices.items()],
        portfolio=view,
        digest=TradeDigest(ts=0),
    )


def guard(proposed, ctx, req=None, **rules):
    limits = GuardLimits.from_request(req or request(), **rules)
    return apply_guardrails(proposed, ctx, limits)


def test_a_symbol_outside_the_strategy_is_dropped_with_a_reason() -> None:
    result = guard([instruction("DOGE-USDT", BUY, 1)], context())
    assert result.instructions == []
    assert "not in this strategy" in result.notes[0].reason


@pytest.mark.parametrize("qty", [math.nan, math.inf, -1.0, 0.0])
def test_non_finite_negative_or_zero_quantities_are_rejected(qty: float) -> None:
    result = guard([instruction("BTC-USDT", BUY, qty)], context())
    assert result.instructions == []
    assert result.notes[0].outcome == "dropped"


def test_leverage_is_clamped_to_the_allowed_range() -> None:
    result = guard([instruction("BTC-USDT", BUY, 1, leverage=50)], context())
    assert result.instructions[0].leverage == 3
    assert result.notes[0].outcome == "clamped"
    low = guard([instruction("BTC-USDT", BUY, 1, leverage=0.2)], context())
    assert low.instructions[0].leverage == 1


def test_max_positions_blocks_new_positions_but_not_adding_to_existing_ones() -> None:
    req = request(max_positions=1)
    ctx = context(positions={"BTC-USDT": 1})
    result = guard(
        [instruction("ETH-USDT", BUY, 1), instruction("BTC-USDT", BUY, 1, index=1)], ctx, req
    )
    assert [i.instrument.symbol for i in result.instructions] == ["BTC-USDT"]
    assert "max_positions" in result.notes[0].reason


def test_per_symbol_notional_cap_clamps_the_quantity() -> None:
    result = guard(
        [instruction("BTC-USDT", BUY, 10)], context(), request(max_notional_per_symbol=500)
    )
    assert result.instructions[0].quantity == pytest.approx(5)
    assert "max_notional_per_symbol" in result.notes[0].reason


def test_buying_power_is_shared_by_all_opens_of_one_cycle() -> None:
    ctx = context(buying_power=1_000)
    proposed = [instruction("BTC-USDT", BUY, 8, index=0), instruction("ETH-USDT", BUY, 80, index=1)]
    result = guard(proposed, ctx)
    spent = sum(
        i.quantity * {"BTC-USDT": 100, "ETH-USDT": 10}[i.instrument.symbol]
        for i in result.instructions
    )
    assert spent < 1_000
    assert result.instructions[1].quantity < 80


def test_closes_are_never_blocked_by_caps_and_run_before_opens() -> None:
    req = request(max_positions=1, max_notional_per_symbol=1)
    ctx = context(positions={"BTC-USDT": 2}, buying_power=0)
    proposed = [
        instruction("ETH-USDT", BUY, 1, index=0),
        instruction("BTC-USDT", SELL, 2, index=1, action=TradeAction.CLOSE_LONG),
    ]
    result = guard(proposed, ctx, req)
    assert result.instructions[0].action is TradeAction.CLOSE_LONG
    assert result.instructions[0].quantity == 2


def test_a_close_larger_than_the_position_is_clamped_to_it() -> None:
    ctx = context(positions={"BTC-USDT": 0.5})
    result = guard([instruction("BTC-USDT", SELL, 3, action=TradeAction.CLOSE_LONG)], ctx)
    assert result.instructions[0].quantity == 0.5


def test_a_flip_is_split_into_a_close_then_an_open() -> None:
    ctx = context(positions={"BTC-USDT": 1})
    result = guard([instruction("BTC-USDT", SELL, 3)], ctx)
    legs = [(i.action, i.quantity) for i in result.instructions]
    assert legs == [(TradeAction.CLOSE_LONG, 1.0), (TradeAction.OPEN_SHORT, 2.0)]
    assert any(n.outcome == "split" for n in result.notes)


def test_spot_cannot_open_shorts() -> None:
    result = guard([instruction("BTC-USDT", SELL, 1)], context(), request(MarketType.SPOT))
    assert result.instructions == []
    assert "cannot open short" in result.notes[0].reason


def test_quantities_round_down_to_the_step_and_below_minimum_is_dropped() -> None:
    result = guard([instruction("BTC-USDT", BUY, 1.23456)], context(), quantity_step=0.01)
    assert result.instructions[0].quantity == 1.23
    tiny = guard([instruction("BTC-USDT", BUY, 0.004)], context(), quantity_step=0.01)
    assert tiny.instructions == []
    assert "rounds to zero" in tiny.notes[0].reason
    small = guard([instruction("BTC-USDT", BUY, 0.05)], context(), min_notional=10)
    assert "below the market minimum" in small.notes[0].reason


def test_an_open_without_a_current_price_is_dropped() -> None:
    result = guard([instruction("BTC-USDT", BUY, 1)], context(prices={}))
    assert "no current price" in result.notes[0].reason


def test_closing_a_position_that_does_not_exist_is_dropped() -> None:
    result = guard([instruction("BTC-USDT", SELL, 1, action=TradeAction.CLOSE_LONG)], context())
    assert "no long position" in result.notes[0].reason


@pytest.mark.parametrize("qty", [1e-12, 5e-13])
def test_an_open_that_rounds_to_nothing_at_the_ledger_precision_is_dropped(qty: float) -> None:
    result = guard([instruction("BTC-USDT", BUY, qty)], context())
    assert result.instructions == []
    assert result.notes[0].outcome == "dropped"
    assert "rounds to" in result.notes[0].reason


@pytest.mark.parametrize("qty", [1e-10, 5e-9, 0.0099])  # worth 1e-8, 5e-7 and 0.99 at price 100
def test_an_open_below_the_default_minimum_notional_of_one_quote_unit_is_dropped(
    qty: float,
) -> None:
    result = guard([instruction("BTC-USDT", BUY, qty)], context())
    assert result.instructions == []
    assert "below the minimum notional 1" in result.notes[0].reason


def test_an_open_worth_exactly_one_quote_unit_passes_the_default_minimum() -> None:
    result = guard([instruction("BTC-USDT", BUY, 0.01)], context())  # 0.01 x 100 = 1
    assert [i.quantity for i in result.instructions] == [0.01]


def test_the_venue_minimum_notional_replaces_the_default() -> None:
    lower = guard([instruction("BTC-USDT", BUY, 0.005)], context(), min_notional=0.1)
    assert [i.quantity for i in lower.instructions] == [0.005]  # 0.5 quote: fine on this venue
    higher = guard([instruction("BTC-USDT", BUY, 0.05)], context(), min_notional=10)
    assert "below the market minimum 10" in higher.notes[0].reason


def test_a_dust_partial_close_is_dropped_but_a_tiny_whole_position_can_be_closed() -> None:
    close = TradeAction.CLOSE_LONG
    partial = guard([instruction("BTC-USDT", SELL, 1e-10, action=close)], context({"BTC-USDT": 1}))
    assert partial.instructions == []
    assert "partial close dropped" in partial.notes[0].reason
    whole = guard([instruction("BTC-USDT", SELL, 1, action=close)], context({"BTC-USDT": 0.001}))
    assert [(i.action, i.quantity) for i in whole.instructions] == [(close, 0.001)]
