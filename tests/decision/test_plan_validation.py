"""Plan validation pinned to its definition: the reasons a model reads back (``{field}: {why}``,
pydantic's "Value error, " prefix dropped, joined by "; "), an ``adjust`` that only cancels a
level, and the tool the model is given (its words, a schema without titles or references)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.decision.test_llm_composer import COMPOSE_ID, item, make_context, plan
from tradeloop.trading.decision.prompt_based.plan import (
    InvalidPlan,
    parse_plan,
    plan_input_schema,
    plan_to_adjustments,
    plan_tool,
)


def test_an_adjust_item_s_reason_names_its_place_and_the_rule_without_pydantic_s_prefix() -> None:
    with pytest.raises(InvalidPlan) as raised:
        parse_plan(plan(item(action="adjust", quantity=0.01)))
    assert raised.value.reasons == [
        "items.0: quantity must be 0 for adjust (it changes levels, not the size)"
    ]


def test_an_invalid_plan_with_no_reasons_says_invalid_plan() -> None:
    empty = InvalidPlan([])
    assert (empty.reasons, str(empty), empty.short) == (["invalid plan"],) + ("invalid plan",) * 2
    two = InvalidPlan(["items.0: bad", "items.1: worse"])
    assert (str(two), two.short) == ("items.0: bad; items.1: worse", "items.0: bad (+1 more)")


@pytest.mark.parametrize("cancel", ["cancel_stop_loss", "cancel_take_profit"])
def test_an_adjust_that_only_cancels_one_level_is_valid_and_cancels_only_that_one(
    cancel: str,
) -> None:
    reply = plan(
        item(action="adjust", quantity=0, stop_loss=None, take_profit=None, **{cancel: True})
    )
    [adjustment] = plan_to_adjustments(parse_plan(reply), make_context())
    assert adjustment.adjustment_id == f"{COMPOSE_ID}:0"
    assert (adjustment.stop_loss, adjustment.take_profit) == (None, None)
    assert (adjustment.cancel_stop_loss, adjustment.cancel_take_profit) == (
        cancel == "cancel_stop_loss",
        cancel == "cancel_take_profit",
    )


def test_the_plan_tool_tells_the_model_its_rules_in_these_words() -> None:
    tool = plan_tool()
    assert tool["name"] == "submit_trade_plan"
    assert tool["description"] == (
        "Submit this cycle's trade plan: an overall rationale and one item per symbol to act on. "
        "Call exactly once. Quantities are in base units; use action hold when unsure, and action "
        "adjust to move or cancel an open position's stop_loss or take_profit."
    )


def test_the_plan_schema_has_no_titles_and_no_references_left() -> None:
    def keys(node: Any) -> list[str]:
        if isinstance(node, list):
            return [k for child in node for k in keys(child)]
        if isinstance(node, dict):
            return [*node, *(k for child in node.values() for k in keys(child))]
        return []

    schema = plan_input_schema()
    found = keys(schema)
    assert "title" not in found and "$ref" not in found and "$defs" not in found
    item = schema["properties"]["items"]["items"]
    assert item["required"] == ["symbol", "action", "quantity", "confidence", "rationale"]
