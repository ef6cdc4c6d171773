"""A strategy agent for tool tests that trades on every cycle, so trades and fills appear at once."""

from __future__ import annotations

from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    TradeAction,
    TradeInstruction,
    TradeSide,
    UserRequest,
)


class FlipComposer(BaseComposer):
    """Opens a long of 20 % of equity in every flat symbol and closes every open long."""

    async def compose(self, context: ComposeContext) -> ComposeResult:
        prices = {
            f.instrument.symbol: f.values["price"]
            for f in context.features
            if f.meta and f.meta.get("group_by_key") == "market_snapshot"
        }
        equity = context.portfolio.total_value or context.portfolio.account_balance
        instructions = []
        for i, (symbol, price) in enumerate(sorted(prices.items())):
            held = context.portfolio.positions.get(symbol)
            if held is not None and held.quantity > 0:
                side, action, qty = TradeSide.SELL, TradeAction.CLOSE_LONG, held.quantity
            else:
                side, action, qty = TradeSide.BUY, TradeAction.OPEN_LONG, equity * 0.2 / price
            instructions.append(
                TradeInstruction(
                    instruction_id=f"{context.compose_id}:{i}",
                    compose_id=context.compose_id,
                    instrument=context.portfolio.positions[symbol].instrument
                    if held is not None
                    else _instrument(context, symbol),
                    side=side,
                    quantity=qty,
                    action=action,
                )
            )
        return ComposeResult(
            instructions=instructions, rationale="flip every cycle", raw={"flip": sorted(prices)}
        )


def _instrument(context: ComposeContext, symbol: str):
    return next(f.instrument for f in context.features if f.instrument.symbol == symbol)


class FlipAgent(DefaultStrategyAgent):
    async def _create_decision_composer(self, request: UserRequest) -> BaseComposer | None:
        return FlipComposer()
