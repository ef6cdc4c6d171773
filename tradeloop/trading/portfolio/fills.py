"""Fills the ledger can take: a fill at or below its precision would move nothing, so it is
rejected on the cycle that got it (with the reason) instead of ending the strategy."""

from __future__ import annotations

from tradeloop.trading.constants import QUANTITY_DUST
from tradeloop.trading.models import TxResult, TxStatus

_FILLED = (TxStatus.FILLED, TxStatus.PARTIAL)


def is_dust_fill(tx: TxResult) -> bool:
    """A fill whose quantity the ledger treats as zero (it would open and close nothing)."""
    return tx.status in _FILLED and 0 < tx.filled_qty <= QUANTITY_DUST


def reject_dust_fills(results: list[TxResult]) -> list[TxResult]:
    """``results`` with every dust fill turned REJECTED (nothing filled) and the reason why."""
    if not any(is_dust_fill(tx) for tx in results):
        return results
    return [_rejected(tx) if is_dust_fill(tx) else tx for tx in results]


def _rejected(tx: TxResult) -> TxResult:
    reason = (
        f"fill of {tx.filled_qty:g} {tx.instrument.symbol} is at or below the ledger's precision"
        f" ({QUANTITY_DUST:g}): it would move nothing, so it was not applied"
    )
    return tx.model_copy(
        update={"status": TxStatus.REJECTED, "filled_qty": 0.0, "fee_cost": None, "reason": reason}
    )
