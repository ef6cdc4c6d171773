"""What the model sees about its own positions: the thesis it gave when it opened each one, the
stop and target protecting it, when it was opened; and change features named by their span."""

from __future__ import annotations

import json

from tests.decision.test_level_adjustments import PROVIDERS, context_of, cycles
from tests.decision.test_llm_composer import TS, item, make_context, plan
from tradeloop.trading.decision.prompt_based.context_json import (
    CHANGE_LONG,
    change_keys,
    render_context,
)
from tradeloop.trading.features import indicators
from tradeloop.trading.features.keys import FEATURE_KEYS
from tradeloop.trading.models import FeatureVector, InstrumentRef, PositionSnapshot

HOUR = 3_600_000


def with_btc_long(context, *, stop=95_000.0, target=110_000.0, ts=TS + HOUR):
    btc = PositionSnapshot(
        instrument=InstrumentRef(symbol="BTC-USDT"),
        quantity=0.01,
        avg_price=100_000.0,
        entry_ts=TS,
        stop_loss=stop,
        take_profit=target,
    )
    portfolio = context.portfolio.model_copy(
        update={"positions": context.portfolio.positions | {"BTC-USDT": btc}}
    )
    return context.model_copy(update={"portfolio": portfolio, "ts": ts, "compose_id": "c_next"})


def positions_of(body) -> dict:
    document = context_of(body)
    return {p["symbol"]: p for p in document["portfolio"]["positions"]}


async def test_an_opened_position_carries_its_thesis_stop_target_and_cycle() -> None:
    opening = plan(item(quantity=0.05, leverage=1, rationale="breakout above the 1h range"))
    prices = [{"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0}]
    _, fake, _ = await cycles(PROVIDERS["anthropic"], [opening, plan()], prices * 2)

    btc = positions_of(fake.bodies[1])["BTC-USDT"]
    assert btc["entry"] == {
        "rationale": "breakout above the 1h range",
        "decided": "2026-01-01T00:00:00Z",  # the opening cycle's time
    }
    assert (btc["stop_loss"], btc["take_profit"]) == (95_000, 110_000)
    assert btc["opened"] == "2026-01-01T00:00:00Z"


async def test_a_thesis_goes_with_its_position_and_a_reopened_one_gets_the_new_one() -> None:
    replies = [
        plan(item(quantity=0.05, leverage=1, rationale="first thesis")),
        plan(item(action="close_long", quantity=0.05, stop_loss=None, take_profit=None)),
        plan(item(quantity=0.05, leverage=1, rationale="second thesis")),
        plan(),
    ]
    prices = [{"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0}]
    _, fake, _ = await cycles(PROVIDERS["anthropic"], replies, prices * 4)

    assert positions_of(fake.bodies[2]) == {}
    assert positions_of(fake.bodies[3])["BTC-USDT"]["entry"] == {
        "rationale": "second thesis",
        "decided": "2026-01-01T02:00:00Z",
    }


def test_a_position_opened_outside_a_decision_shows_no_entry() -> None:
    document = json.loads(render_context(with_btc_long(make_context())))
    assert all("entry" not in p for p in document["portfolio"]["positions"])


def test_change_features_are_named_by_their_span_in_the_context() -> None:
    assert CHANGE_LONG == indicators.CHANGE_LONG
    assert change_keys("1h") == {"change_pct": "change_pct_1h", "change_pct_24": "change_pct_1d"}
    assert change_keys("4h") == {"change_pct": "change_pct_4h", "change_pct_24": "change_pct_4d"}
    assert change_keys("1d")["change_pct_24"] == "change_pct_24d"
    daily = FeatureVector(
        ts=TS,
        instrument=InstrumentRef(symbol="BTC-USDT"),
        values={"close": 1.0, "change_pct": 0.5, "change_pct_24": 3.0},
        meta={"interval": "1d"},
    )
    context = make_context().model_copy(update={"features": [daily]})
    candles = json.loads(render_context(context))["market"]["BTC-USDT"]["candles_1d"]
    assert candles == {"close": 1, "change_pct_1d": 0.5, "change_pct_24d": 3}


def test_list_features_says_change_pct_24_counts_candles_not_hours() -> None:
    assert "24 candles" in FEATURE_KEYS["change_pct_24"]
    assert "4 days on 4h" in FEATURE_KEYS["change_pct_24"]
