"""The composer of forced closes (stop with close_positions, risk stops, close_position): it
proposes a close of each chosen position, which then goes through guardrails and gateway and is
recorded like any other cycle."""

from __future__ import annotations

from collections.abc import Sequence

from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    TradeAction,
    TradeInstruction,
    TradeSide,
)


class ClosePositionsComposer(BaseComposer):
    def __init__(self, symbols: Sequence[str] | None, why: str) -> None:
        """Close the positions in ``symbols`` (None: every open position)."""
        self._symbols = symbols
        self._why = why

    async def compose(self, context: ComposeContext) -> ComposeResult:
        chosen = [
            position
            for symbol, position in sorted(context.portfolio.positions.items())
            if self._symbols is None or symbol in self._symbols
        ]
        instructions = [
            TradeInstruction(
                instruction_id=f"{context.compose_id}:close:{i}",
                compose_id=context.compose_id,
                instrument=position.instrument,
                side=TradeSide.SELL if position.quantity > 0 else TradeSide.BUY,
                quantity=abs(position.quantity),
                action=TradeAction.CLOSE_LONG if position.quantity > 0 else TradeAction.CLOSE_SHORT,
            )
            for i, position in enumerate(chosen)
        ]
        closed = [p.instrument.symbol for p in chosen]
        return ComposeResult(
            instructions=instructions,
            rationale=f"{self._why}: closing {', '.join(closed) or 'nothing (no open position)'}",
            raw={"forced_close": closed, "why": self._why},
        )
