"""Buy-and-hold over a running (or stored) strategy's own history, for ``get_digest``: equal
weight in its symbols at the prices its first cycle saw, held to the prices its latest cycle saw,
with its fees and slippage in and out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from tradeloop.trading.models import CycleResult

if TYPE_CHECKING:
    from tradeloop.services.owned import OwnedStrategies

PROBE = 5
"""Cycles looked at from each end for one whose snapshot priced every symbol."""


class BuyAndHold(BaseModel):
    total_return_pct: float = Field(
        description="Return of holding the strategy's symbols (equal weight) from its first cycle "
        "to its latest, fees and slippage in and out: compare total_return_pct with it."
    )
    since: int = Field(description="Time of the first cycle (epoch ms).")
    until: int = Field(description="Time of the latest cycle (epoch ms).")


async def buy_and_hold(service: OwnedStrategies, strategy_id: str) -> BuyAndHold | None:
    """None before two priced cycles."""
    from tradeloop.backtest.baselines import hold_return_pct  # here: it imports pandas

    info = await service.get(strategy_id)
    symbols = list(info.request.trading_config.symbols)
    first = await _priced(service, strategy_id, symbols, newest_first=False)
    last = await _priced(service, strategy_id, symbols, newest_first=True)
    if first is None or last is None or first[0] >= last[0]:
        return None
    ex = info.request.exchange_config
    value = hold_return_pct(first[1], last[1], fee_bps=ex.fee_bps, slippage_bps=ex.max_slippage_bps)
    if value is None:
        return None
    return BuyAndHold(total_return_pct=value, since=first[0], until=last[0])


async def _priced(
    service: OwnedStrategies, strategy_id: str, symbols: list[str], *, newest_first: bool
) -> tuple[int, dict[str, float]] | None:
    page = await service.list_cycles(strategy_id, limit=PROBE, newest_first=newest_first)
    for record in page.items:
        prices = _prices(await service.get_cycle(record.compose_id))
        if all(s in prices for s in symbols):
            return record.ts, {s: prices[s] for s in symbols}
    return None


def _prices(cycle: CycleResult) -> dict[str, float]:
    from tradeloop.trading.features.keys import SNAPSHOT_GROUP  # the package imports pandas

    return {
        fv.instrument.symbol: float(fv.values["price"])
        for fv in cycle.features
        if (fv.meta or {}).get("group_by_key") == SNAPSHOT_GROUP and "price" in fv.values
    }
