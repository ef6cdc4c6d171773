"""Stop-loss and take-profit enforced in code: a touched level becomes a close before anything else.

Paper and replay: the level counts as touched when the latest candle's low/high (from the market
snapshot) reaches it; the close fills at the level. When both are touched in one candle the stop
wins, the pessimistic reading of a bar whose path inside is unknown.
"""

from __future__ import annotations

from tradeloop.trading.models import (
    ComposeContext,
    FeatureVector,
    PositionSnapshot,
    TradeAction,
    TradeInstruction,
    TradeSide,
)
from tradeloop.trading.portfolio.views import SNAPSHOT_GROUP


def protective_exits(context: ComposeContext) -> list[TradeInstruction]:
    guarded = {
        symbol: position
        for symbol, position in context.portfolio.positions.items()
        if position.stop_loss is not None or position.take_profit is not None
    }
    if not guarded:
        return []  # most cycles: no position has a level to watch
    ranges = _candle_ranges(context.features)
    exits: list[TradeInstruction] = []
    for symbol, position in sorted(guarded.items()):
        if symbol not in ranges:
            continue
        hit = _touched(position, *ranges[symbol])
        if hit is not None:
            exits.append(_close(context.compose_id, position, len(exits), *hit))
    return exits


def _candle_ranges(features: list[FeatureVector]) -> dict[str, tuple[float, float]]:
    ranges = {}
    for fv in features:
        if (fv.meta or {}).get("group_by_key") == SNAPSHOT_GROUP:
            low, high = fv.values.get("low"), fv.values.get("high")
            if low is not None and high is not None:
                ranges[fv.instrument.symbol] = (low, high)
    return ranges


def _touched(position: PositionSnapshot, low: float, high: float) -> tuple[str, float] | None:
    long = position.quantity > 0
    stop, target = position.stop_loss, position.take_profit
    if stop is not None and (low <= stop if long else high >= stop):
        return "stop_loss", stop
    if target is not None and (high >= target if long else low <= target):
        return "take_profit", target
    return None


def _close(
    compose_id: str, position: PositionSnapshot, index: int, trigger: str, level: float
) -> TradeInstruction:
    long = position.quantity > 0
    return TradeInstruction(
        instruction_id=f"{compose_id}:x{index}",
        compose_id=compose_id,
        instrument=position.instrument,
        side=TradeSide.SELL if long else TradeSide.BUY,
        quantity=abs(position.quantity),
        leverage=position.leverage,
        action=TradeAction.CLOSE_LONG if long else TradeAction.CLOSE_SHORT,
        meta={"trigger": trigger, "trigger_price": level},
    )
