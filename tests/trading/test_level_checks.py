"""Guardrails for stop-loss / take-profit adjustments of held positions, with literal levels.

BTC is at 100 and ETH at 10 (``test_guardrails_positions.context``). A long's stop must be strictly
below the price and its target strictly above; a short's the other way round; a level at the price
is dropped. Every drop carries its reason.
"""

from __future__ import annotations

import pytest

from tests.trading.test_guardrails_positions import (
    BUY,
    CLOSE_LONG,
    OPEN_SHORT,
    SELL,
    context,
    limits,
    notes,
    order,
)
from tradeloop.trading.decision.guardrails import apply_guardrails
from tradeloop.trading.models import ComposeContext, InstrumentRef, LevelAdjustment


def adjustment(symbol: str = "BTC-USDT", index: int = 0, **levels) -> LevelAdjustment:
    return LevelAdjustment(
        adjustment_id=f"c_test:{index}",
        compose_id="c_test",
        instrument=InstrumentRef(symbol=symbol),
        **levels,
    )


def with_levels(ctx: ComposeContext, symbol: str, stop: float | None, target: float | None):
    positions = dict(ctx.portfolio.positions)
    positions[symbol] = positions[symbol].model_copy(
        update={"stop_loss": stop, "take_profit": target}
    )
    return ctx.model_copy(
        update={"portfolio": ctx.portfolio.model_copy(update={"positions": positions})}
    )


LONG = with_levels(context({"BTC-USDT": 1.0}), "BTC-USDT", 90.0, 120.0)
SHORT = with_levels(context({"ETH-USDT": -5.0}), "ETH-USDT", 11.0, 8.0)


def levels(result) -> list[tuple]:
    return [
        (
            a.instrument.symbol,
            a.stop_loss,
            a.take_profit,
            a.cancel_stop_loss,
            a.cancel_take_profit,
            a.previous_stop_loss,
            a.previous_take_profit,
        )
        for a in result.adjustments
    ]


def test_a_long_stop_moved_up_under_the_price_is_kept_with_the_levels_it_replaces() -> None:
    result = apply_guardrails([], LONG, limits(), [adjustment(stop_loss=99.0, take_profit=130.0)])
    assert levels(result) == [("BTC-USDT", 99.0, 130.0, False, False, 90.0, 120.0)]
    assert result.notes == [] and result.instructions == []


def test_a_short_stop_moved_down_above_the_price_is_kept() -> None:
    result = apply_guardrails([], SHORT, limits(), [adjustment("ETH-USDT", stop_loss=10.5)])
    assert levels(result) == [("ETH-USDT", 10.5, None, False, False, 11.0, 8.0)]


@pytest.mark.parametrize(
    ("ctx", "symbol", "change", "reason"),
    [
        (LONG, "BTC-USDT", {"stop_loss": 100.0}, "stop_loss 100 ignored: a long's must be below the price 100"),
        (LONG, "BTC-USDT", {"stop_loss": 101.0}, "stop_loss 101 ignored: a long's must be below the price 100"),
        (LONG, "BTC-USDT", {"take_profit": 100.0}, "take_profit 100 ignored: a long's must be above the price 100"),
        (LONG, "BTC-USDT", {"take_profit": 95.5}, "take_profit 95.5 ignored: a long's must be above the price 100"),
        (SHORT, "ETH-USDT", {"stop_loss": 10.0}, "stop_loss 10 ignored: a short's must be above the price 10"),
        (SHORT, "ETH-USDT", {"stop_loss": 9.0}, "stop_loss 9 ignored: a short's must be above the price 10"),
        (SHORT, "ETH-USDT", {"take_profit": 10.0}, "take_profit 10 ignored: a short's must be below the price 10"),
        (SHORT, "ETH-USDT", {"take_profit": 12.0}, "take_profit 12 ignored: a short's must be below the price 10"),
    ],
    ids=[
        "long stop at the price",
        "long stop above",
        "long target at the price",
        "long target below",
        "short stop at the price",
        "short stop below",
        "short target at the price",
        "short target above",
    ],
)  # fmt: skip
def test_a_level_at_or_on_the_wrong_side_of_the_price_is_dropped_with_its_reason(
    ctx: ComposeContext, symbol: str, change: dict, reason: str
) -> None:
    result = apply_guardrails([], ctx, limits(), [adjustment(symbol, **change)])
    assert result.adjustments == []
    assert notes(result) == [("c_test:0", "dropped", reason)]


def test_a_bad_level_beside_a_good_one_is_cut_and_the_good_one_kept() -> None:
    result = apply_guardrails([], LONG, limits(), [adjustment(stop_loss=105.0, take_profit=130.0)])
    assert levels(result) == [("BTC-USDT", None, 130.0, False, False, 90.0, 120.0)]
    assert notes(result) == [
        ("c_test:0", "clamped", "stop_loss 105 ignored: a long's must be below the price 100")
    ]


def test_cancelling_a_level_the_position_has_is_kept_and_one_it_lacks_is_noted() -> None:
    flat_target = with_levels(context({"BTC-USDT": 1.0}), "BTC-USDT", 90.0, None)
    both = [adjustment(cancel_stop_loss=True, cancel_take_profit=True)]
    result = apply_guardrails([], flat_target, limits(), both)
    assert levels(result) == [("BTC-USDT", None, None, True, False, 90.0, None)]
    assert notes(result) == [
        ("c_test:0", "clamped", "cancel_take_profit ignored: the position has no take_profit")
    ]
    nothing = apply_guardrails([], flat_target, limits(), [adjustment(cancel_take_profit=True)])
    assert nothing.adjustments == []
    assert notes(nothing) == [
        ("c_test:0", "dropped", "cancel_take_profit ignored: the position has no take_profit")
    ]


def test_an_adjustment_without_a_position_or_outside_the_symbols_is_dropped() -> None:
    proposals = [
        adjustment("ETH-USDT", 0, stop_loss=9.0),
        adjustment("SOL-USDT", 1, stop_loss=9.0),
    ]
    result = apply_guardrails([], LONG, limits(), proposals)
    assert result.adjustments == []
    assert notes(result) == [
        ("c_test:0", "dropped", "no open ETH-USDT position to adjust"),
        ("c_test:1", "dropped", "symbol SOL-USDT is not in this strategy's symbols"),
    ]


def test_a_position_the_same_plan_closes_or_reverses_takes_no_adjustment() -> None:
    close = order("BTC-USDT", SELL, 1.0, CLOSE_LONG)
    closed = apply_guardrails([close], LONG, limits(), [adjustment(index=1, stop_loss=95.0)])
    assert notes(closed) == [
        ("c_test:1", "dropped", "the BTC-USDT position is closed in this cycle")
    ]
    flip = order("BTC-USDT", SELL, 2.0, OPEN_SHORT)
    flipped = apply_guardrails([flip], LONG, limits(), [adjustment(index=1, stop_loss=95.0)])
    assert flipped.adjustments == []
    assert notes(flipped)[-1] == (
        "c_test:1",
        "dropped",
        "the BTC-USDT position is reversed in this cycle",
    )


def test_a_partial_close_or_an_add_leaves_the_adjustment_standing() -> None:
    trim = order("BTC-USDT", SELL, 0.5, CLOSE_LONG)
    add = order("BTC-USDT", BUY, 0.5, None, index=1)
    for proposed in ([trim], [add]):
        result = apply_guardrails(proposed, LONG, limits(), [adjustment(index=2, stop_loss=95.0)])
        assert levels(result) == [("BTC-USDT", 95.0, None, False, False, 90.0, 120.0)]


def test_a_second_adjustment_of_one_symbol_is_dropped_and_the_first_counts() -> None:
    proposals = [adjustment(stop_loss=95.0), adjustment(index=1, stop_loss=97.0)]
    result = apply_guardrails([], LONG, limits(), proposals)
    assert levels(result) == [("BTC-USDT", 95.0, None, False, False, 90.0, 120.0)]
    assert notes(result) == [
        (
            "c_test:1",
            "dropped",
            "a second adjustment of BTC-USDT in one plan (the first one counts)",
        )
    ]


def test_an_adjustment_without_a_price_is_dropped_by_name() -> None:
    unpriced = LONG.model_copy(update={"features": []})
    result = apply_guardrails([], unpriced, limits(), [adjustment(stop_loss=95.0)])
    assert result.adjustments == []
    [(_, outcome, reason)] = notes(result)
    assert outcome == "dropped" and "BTC-USDT" in reason and "price" in reason
