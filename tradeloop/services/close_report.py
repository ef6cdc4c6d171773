"""What a forced close did, per symbol: held before, closed, left in the ledger, and whether the
venue agrees. A stop with ``close_positions`` reports this in its answer and says "stopped" only
when every symbol is done; otherwise the strategy stays paused with ``why_not_done``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from tradeloop.trading.models import TradeSide, TxResult
from tradeloop.trading.utils import to_decimal

ZERO = Decimal(0)


class SymbolClose(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    held: float
    """Signed quantity the strategy held before the close."""
    closed: float
    """Quantity filled by the closing orders (unsigned)."""
    left: float
    """Signed quantity left in the strategy's ledger."""
    venue_left: float | None = None
    """Live: signed quantity of the strategy's own on the venue after the close (the venue's
    position less the other tradeloop strategies' and less what was there before outside them)."""
    done: bool
    reason: str | None = None


def signed_fills(results: Iterable[TxResult]) -> dict[str, Decimal]:
    """Signed filled quantity per symbol of ``results``."""
    totals: dict[str, Decimal] = {}
    for tx in results:
        if tx.filled_qty:
            qty = to_decimal(tx.filled_qty)
            signed = qty if tx.side is TradeSide.BUY else -qty
            totals[tx.instrument.symbol] = totals.get(tx.instrument.symbol, ZERO) + signed
    return totals


def close_report(
    held: Mapping[str, Decimal],
    results: list[TxResult],
    left: Mapping[str, Decimal],
    *,
    venue_own_left: Mapping[str, Decimal] | None = None,
) -> list[SymbolClose]:
    """One line per symbol the strategy held. ``venue_own_left`` (live): what the venue still
    holds of this strategy's own per symbol; done means the ledger is flat and the venue agrees."""
    fills = signed_fills(results)
    reasons = {tx.instrument.symbol: tx.reason for tx in results if tx.reason}
    lines = []
    for symbol in sorted(held):
        before, after = held[symbol], left.get(symbol, ZERO)
        venue = None if venue_own_left is None else venue_own_left.get(symbol, ZERO)
        problems = []
        if after != 0:
            problems.append(f"{after} still open in the ledger")
        if venue is not None and venue != after:
            problems.append(f"the venue holds {venue} of this strategy's")
        reason = None
        if problems:
            reason = "; ".join(problems) + (f" ({reasons[symbol]})" if reasons.get(symbol) else "")
        lines.append(
            SymbolClose(
                symbol=symbol,
                held=float(before),
                closed=float(abs(fills.get(symbol, ZERO))),
                left=float(after),
                venue_left=None if venue is None else float(venue),
                done=not problems,
                reason=reason,
            )
        )
    return lines


def why_not_done(lines: list[SymbolClose]) -> str | None:
    """The reason a stop stays paused, naming every symbol not closed; None when all are done."""
    bad = [line for line in lines if not line.done]
    if not bad:
        return None
    detail = "; ".join(
        f"{line.symbol}: closed {line.closed} of {abs(line.held)}, {line.reason}" for line in bad
    )
    return f"stopping: could not close every position ({detail}); stop again to retry"
