"""The trade plan Claude returns through one forced tool call, and its conversion to instructions.

Validation is strict on purpose (no type coercion, no unknown keys, finite numbers only): a reply
that does not match the schema exactly yields no instructions at all. Whether a valid plan may be
sent is not decided here; the guardrails do that (unknown symbols, limits, buying power).

An ``adjust`` item moves or cancels the stop-loss and take-profit of a position already open; it
becomes a ``LevelAdjustment``, not an order.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tradeloop.trading.constants import MAX_LEVERAGE_CAP, QUANTITY_DUST
from tradeloop.trading.models import (
    ComposeContext,
    InstrumentRef,
    LevelAdjustment,
    TradeAction,
    TradeInstruction,
    TradeSide,
)
from tradeloop.trading.utils import normalize_symbol

PLAN_TOOL_NAME = "submit_trade_plan"
MAX_PLAN_QUANTITY = 1e15
"""Base units. Larger is a malformed reply, not a trade (1e15 SHIB-like units is still > $1e9)."""
MAX_PLAN_ITEMS = 100
MAX_TEXT_CHARS = 2000
MAX_REASONS = 8

PlanAction = Literal["open_long", "open_short", "close_long", "close_short", "hold", "adjust"]
_NOT_ORDERS = ("hold", "adjust")
PositivePrice = Annotated[float, Field(gt=0, allow_inf_nan=False)]

_SIDES = {
    "open_long": TradeSide.BUY,
    "close_short": TradeSide.BUY,
    "open_short": TradeSide.SELL,
    "close_long": TradeSide.SELL,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PlanItem(_Strict):
    symbol: str = Field(
        min_length=1, max_length=40, description="One of the strategy's symbols, e.g. BTC-USDT."
    )
    action: PlanAction
    quantity: float = Field(
        ge=0,
        le=MAX_PLAN_QUANTITY,
        allow_inf_nan=False,
        description="Order size in BASE units (BTC for BTC-USDT). Above 0, except 0 for hold "
        "and adjust.",
    )
    leverage: float = Field(default=1.0, ge=1, le=MAX_LEVERAGE_CAP, allow_inf_nan=False)
    confidence: float = Field(
        ge=0, le=1, allow_inf_nan=False, description="Probability in [0, 1] that it is right."
    )
    stop_loss: PositivePrice | None = Field(
        default=None,
        description="Absolute price, or null. For adjust: the open position's new stop-loss "
        "(null keeps the current one).",
    )
    take_profit: PositivePrice | None = Field(
        default=None,
        description="Absolute price, or null. For adjust: the open position's new take-profit "
        "(null keeps the current one).",
    )
    cancel_stop_loss: bool = Field(
        default=False, description="adjust only: remove the open position's stop-loss."
    )
    cancel_take_profit: bool = Field(
        default=False, description="adjust only: remove the open position's take-profit."
    )
    rationale: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)

    @field_validator("symbol")
    @classmethod
    def _canonical_symbol(cls, symbol: str) -> str:
        return normalize_symbol(symbol)

    @model_validator(mode="after")
    def _quantity_fits_action(self) -> PlanItem:
        if self.action == "adjust":
            return self._valid_adjustment()
        if self.action != "hold" and self.quantity < QUANTITY_DUST:
            raise ValueError(f"quantity must be above 0 for {self.action}")
        if self.cancel_stop_loss or self.cancel_take_profit:
            raise ValueError("cancel_stop_loss and cancel_take_profit are for action adjust only")
        return self

    def _valid_adjustment(self) -> PlanItem:
        if self.quantity != 0:
            raise ValueError("quantity must be 0 for adjust (it changes levels, not the size)")
        for name in ("stop_loss", "take_profit"):
            if getattr(self, name) is not None and getattr(self, f"cancel_{name}"):
                raise ValueError(f"adjust cannot both set and cancel {name}")
        if (self.stop_loss, self.take_profit) == (None, None) and not (
            self.cancel_stop_loss or self.cancel_take_profit
        ):
            raise ValueError(
                "adjust needs a new stop_loss or take_profit, or cancel_stop_loss or "
                "cancel_take_profit"
            )
        return self


class TradePlan(_Strict):
    rationale: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    items: list[PlanItem] = Field(max_length=MAX_PLAN_ITEMS)


class InvalidPlan(ValueError):
    """A reply that is not a usable plan. ``reasons`` are short, one per problem, model-readable."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons[:MAX_REASONS] or ["invalid plan"]
        super().__init__("; ".join(self.reasons))

    @property
    def short(self) -> str:
        extra = len(self.reasons) - 1
        return self.reasons[0] + (f" (+{extra} more)" if extra > 0 else "")


def parse_plan(tool_input: object) -> TradePlan:
    """Validate a tool call's input; raises ``InvalidPlan`` naming every problem found."""
    if not isinstance(tool_input, dict):
        raise InvalidPlan([f"tool input must be a JSON object, got {type(tool_input).__name__}"])
    try:
        return TradePlan.model_validate(tool_input)
    except ValidationError as err:
        raise InvalidPlan([_reason(e) for e in err.errors(include_url=False)]) from None


def _reason(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "plan"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}: {message}"


def plan_to_instructions(plan: TradePlan, context: ComposeContext) -> list[TradeInstruction]:
    """One instruction per non-hold item; the id ``{compose_id}:{i}`` names the plan item ``i``."""
    instruments = {fv.instrument.symbol: fv.instrument for fv in context.features}
    return [
        _instruction(item, index, context.compose_id, instruments)
        for index, item in enumerate(plan.items)
        if item.action not in _NOT_ORDERS
    ]


def plan_to_adjustments(plan: TradePlan, context: ComposeContext) -> list[LevelAdjustment]:
    """One adjustment per ``adjust`` item, named ``{compose_id}:{i}`` like the instructions."""
    instruments = {fv.instrument.symbol: fv.instrument for fv in context.features}
    return [
        LevelAdjustment(
            adjustment_id=f"{context.compose_id}:{index}",
            compose_id=context.compose_id,
            instrument=instruments.get(item.symbol) or InstrumentRef(symbol=item.symbol),
            stop_loss=item.stop_loss,
            take_profit=item.take_profit,
            cancel_stop_loss=item.cancel_stop_loss,
            cancel_take_profit=item.cancel_take_profit,
            meta={"confidence": item.confidence, "rationale": item.rationale},
        )
        for index, item in enumerate(plan.items)
        if item.action == "adjust"
    ]


def _instruction(
    item: PlanItem, index: int, compose_id: str, instruments: dict[str, InstrumentRef]
) -> TradeInstruction:
    return TradeInstruction(
        instruction_id=f"{compose_id}:{index}",
        compose_id=compose_id,
        instrument=instruments.get(item.symbol) or InstrumentRef(symbol=item.symbol),
        side=_SIDES[item.action],
        quantity=item.quantity,
        leverage=item.leverage,
        action=TradeAction(item.action),
        stop_loss=item.stop_loss,
        take_profit=item.take_profit,
        meta={"confidence": item.confidence, "rationale": item.rationale},
    )


def plan_input_schema() -> dict[str, Any]:
    """The tool's ``input_schema``: the pydantic schema with ``$ref``s inlined and titles dropped."""
    schema = TradePlan.model_json_schema()
    defs = schema.pop("$defs", {})
    return _clean(schema, defs)


def _clean(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_clean(child, defs) for child in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _clean(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]), defs)
    return {
        key: _clean(value, defs)
        for key, value in node.items()
        if not (key == "title" and isinstance(value, str))
    }


def plan_tool() -> dict[str, Any]:
    return {
        "name": PLAN_TOOL_NAME,
        "description": (
            "Submit this cycle's trade plan: an overall rationale and one item per symbol to act "
            "on. Call exactly once. Quantities are in base units; use action hold when unsure, "
            "and action adjust to move or cancel an open position's stop_loss or take_profit."
        ),
        "input_schema": plan_input_schema(),
    }
