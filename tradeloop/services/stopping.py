"""Stopping a strategy, optionally closing its own open positions first.

With ``close_positions`` the strategy is paused first, in its own commit (a crash while closing
must not leave a strategy the next start resumes and trades; stopping again finishes the job),
then its positions are closed through guardrails and gateway and recorded as a cycle; nothing else
is touched. It is stopped only when every symbol is closed (live: the venue agrees, and the
closes are capped by what the exchange holds, so another strategy's or a human's position on the
same account is never closed); otherwise it stays paused saying which symbol was not closed and
why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from tradeloop.services.close_report import SymbolClose, close_report, why_not_done
from tradeloop.services.desk import Desks
from tradeloop.services.models import StrategyInfo
from tradeloop.services.registry import StrategyRegistry
from tradeloop.services.slots.boundary import CycleOutcome
from tradeloop.services.slots.runner import CAN_STOP, SlotRunner
from tradeloop.store.strategies import StrategyRow, check_allowed
from tradeloop.trading import crashpoints
from tradeloop.trading.models import StrategyStatus

S = StrategyStatus
STOPPING = "stopping: closing positions (stop again if this stays: it was interrupted)"
CRASH_BEFORE_STOPPED = "before_stopped"
"""Crash point: the close cycle is committed, the strategy not yet stopped."""


@dataclass(frozen=True)
class StopOutcome:
    info: StrategyInfo
    closing: list[SymbolClose] = field(default_factory=list)
    """Per symbol held before a stop with close: what was closed, what was not and why."""


async def stop_strategy(
    strategy_id: str,
    close_positions: bool,
    registry: StrategyRegistry,
    desks: Desks,
    slots: SlotRunner,
) -> tuple[StrategyRow | None, list[SymbolClose]]:
    """Stop (the caller holds the strategy's lock): (None when stopped, else the row it stays
    paused with; what each close did)."""
    closing: list[SymbolClose] = []
    row = await registry.strategies.require(strategy_id)
    check_allowed(row.id, row.status, "stop", CAN_STOP)
    registry.scheduler.cancel(strategy_id)
    reason = "stopped by request"
    if close_positions:
        row = await registry.transition(
            strategy_id, S.PAUSED, STOPPING, action="stop", allowed=CAN_STOP
        )
        loaded = await desks.of(row.request).for_closing(row)
        held = loaded.positions()
        outcome = await slots.close_positions(loaded, None, reason)
        closing = _closing_lines(outcome, held, loaded.positions())
        failed = why_not_done(closing)
        if outcome.failure is not None:
            failed = f"stopping: closing positions failed: {outcome.failure.reason}"
        if failed is not None:
            row = await registry.transition(
                strategy_id, S.PAUSED, failed, action="stop", allowed={S.PAUSED}
            )
            return row, closing
    crashpoints.crash_point(CRASH_BEFORE_STOPPED)
    await registry.transition(strategy_id, S.STOPPED, reason, action="stop", allowed=CAN_STOP)
    await registry.unload(strategy_id)
    return None, closing


def _closing_lines(
    outcome: CycleOutcome, held: Mapping[str, Decimal], left: Mapping[str, Decimal]
) -> list[SymbolClose]:
    """The close report of a forced close: the live one's own (it knows the venue), else the
    ledger's before and after."""
    result = outcome.result
    raw = (result.raw or {}) if result is not None else {}
    if "closing" in raw:
        return [SymbolClose.model_validate(line) for line in raw["closing"]]
    return close_report(held, result.tx_results if result else [], left)
