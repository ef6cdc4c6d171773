"""Who runs which slot: every decision that this process may run a strategy's slots is made here.

On a SQLite file one process owns the whole store (``ProcessLock``), so it takes every strategy
stored as running when it opens, and runs a fired slot when the strategy is loaded here, still
running, and the slot comes after its last one. The store's unique (strategy, slot) rule stays the
last guard (``SlotTaken``). Replicas sharing a PostgreSQL database use ``leases.LeasedOwnership``
instead: ``take`` keeps the strategies whose lease this process holds, ``claim`` takes one started
here, and ``may_run`` also needs the lease held and recently renewed.
"""

from __future__ import annotations

from collections.abc import Sequence

from tradeloop.services.loaded import LoadedStrategy
from tradeloop.store.strategies import StrategyRow


class SlotOwnership:
    def take(self, running: Sequence[StrategyRow]) -> list[StrategyRow]:
        """Of the strategies stored as running, those this process runs (all: it owns the store)."""
        return list(running)

    async def claim(self, strategy_id: str) -> bool:
        """Run ``strategy_id`` here from now on (it was just started or resumed here): whether
        this process owns it (always: it owns the store)."""
        return True

    def may_run(self, loaded: LoadedStrategy, slot: int | None = None) -> bool:
        """Whether a slot that fired for a loaded strategy may run here now: it is running, and
        ``slot`` (when known before the cycle) comes after its last one; an earlier or equal
        slot ran already (a manual cycle, or the clock stepped back)."""
        if not loaded.running:
            return False
        return slot is None or loaded.last_slot is None or slot > loaded.last_slot
