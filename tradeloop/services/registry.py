"""The registry: which strategies are loaded in this process, their locks, their status moves, and
the events published about them.

Every command and every slot takes the strategy's lock (``lock``) before it reads or changes the
strategy, so a command waits for the cycle in flight. A status move goes through ``transition``
(or ``move`` for a loaded strategy): the store checks the move is allowed, then the loaded copy
takes the new row, a strategy no longer running loses its scheduled job, and subscribers hear of
it. Loading builds the runtime from the store (``load_strategy``); unloading closes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping

from tradeloop.backtest.store import BACKTEST_AGENT_KIND
from tradeloop.scheduler.jobs import StrategyScheduler
from tradeloop.services.live import LiveLink
from tradeloop.services.loaded import LoadedStrategy, load_strategy
from tradeloop.services.models import ServiceEvent
from tradeloop.services.replay import ReplayLibrary
from tradeloop.store.cycles import CycleStore
from tradeloop.store.strategies import StrategyRow, StrategyStore
from tradeloop.trading.base_agent import BaseStrategyAgent
from tradeloop.trading.clock import Clock
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import CycleResult, StrategyStatus

logger = logging.getLogger(__name__)

Allowed = frozenset[StrategyStatus] | set[StrategyStatus]


class StrategyRegistry:
    def __init__(
        self,
        strategies: StrategyStore,
        cycles: CycleStore,
        scheduler: StrategyScheduler,
        *,
        agents: Mapping[str, BaseStrategyAgent],
        clock: Clock,
    ) -> None:
        self.strategies = strategies
        self.cycles = cycles
        self.scheduler = scheduler
        self.replays = ReplayLibrary()
        self.loaded: dict[str, LoadedStrategy] = {}
        self._agents = dict(agents)
        self._clock = clock
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._subscribers: dict[asyncio.Queue[ServiceEvent], str | None] = {}
        """Each subscriber's queue and the owner whose strategies it hears of (None: all)."""

    def lock(self, strategy_id: str) -> asyncio.Lock:
        """The strategy's lock: one command or cycle at a time."""
        return self._locks[strategy_id]

    def forget(self, strategy_id: str) -> None:
        """Drop what is kept of a deleted strategy."""
        self._locks.pop(strategy_id, None)

    def agent(self, kind: str) -> BaseStrategyAgent:
        agent = self._agents.get(kind)
        if agent is None:
            known = ", ".join(sorted(self._agents))
            raise ConfigError(f"unknown agent_kind {kind!r}; known: {known}")
        return agent

    # ------------------------------------------------------------------ loading

    async def load(self, row: StrategyRow, live: LiveLink | None = None) -> LoadedStrategy:
        """The loaded strategy of ``row`` (built from the store unless it is loaded already)."""
        loaded = self.loaded.get(row.id)
        if loaded is None:
            if row.agent_kind == BACKTEST_AGENT_KIND:
                raise ConfigError(
                    f"strategy {row.id} is a stored backtest: its history can be read "
                    "(list_trades, list_cycles, get_digest, get_equity_chart) but it cannot run; "
                    "create_strategy with its config to trade it"
                )
            loaded = await load_strategy(
                row,
                agent=self.agent(row.agent_kind),
                cycles=self.cycles,
                replays=self.replays,
                clock=self._clock,
                live=live,
            )
            self.loaded[row.id] = loaded
        loaded.row = row
        return loaded

    async def unload(self, strategy_id: str) -> None:
        self.scheduler.cancel(strategy_id)
        loaded = self.loaded.pop(strategy_id, None)
        if loaded is not None:
            await loaded.runtime.close()

    async def close(self, grace_s: float) -> None:
        """Unload every strategy; each gets ``grace_s`` to finish the cycle it runs on demand."""
        for strategy_id in list(self.loaded):
            try:
                async with asyncio.timeout(grace_s), self._locks[strategy_id]:
                    await self.unload(strategy_id)
            except TimeoutError:
                logger.warning("strategy_id=%s still busy at shutdown; abandoned", strategy_id)

    # ------------------------------------------------------------------ status moves

    async def transition(
        self,
        strategy_id: str,
        to: StrategyStatus,
        reason: str | None,
        *,
        action: str,
        allowed: Allowed,
    ) -> StrategyRow:
        """Move the stored strategy (``InvalidTransition`` from a status not in ``allowed``)."""
        row = await self.strategies.transition(
            strategy_id, to, reason, action=action, allowed_from=allowed
        )
        self.after_move(row)
        return row

    async def move(
        self,
        loaded: LoadedStrategy,
        to: StrategyStatus,
        reason: str | None,
        *,
        action: str,
        allowed: Allowed,
    ) -> None:
        loaded.row = await self.transition(
            loaded.strategy_id, to, reason, action=action, allowed=allowed
        )

    def after_move(self, row: StrategyRow) -> None:
        loaded = self.loaded.get(row.id)
        if loaded is not None:
            loaded.row = row
        if row.status is not StrategyStatus.RUNNING:
            self.scheduler.cancel(row.id)
        logger.info(
            "strategy_id=%s name=%s status=%s reason=%s",
            row.id,
            row.name,
            row.status.value,
            row.reason,
        )
        self.publish(row)

    # ------------------------------------------------------------------ events

    def publish(self, row: StrategyRow, cycle: CycleResult | None = None) -> None:
        event = ServiceEvent(row.id, row.name, row.status, row.reason, cycle)
        for queue, owner in self._subscribers.items():
            if owner is None or owner == row.owner:
                queue.put_nowait(event)

    def subscribe(self, owner: str | None = None) -> asyncio.Queue[ServiceEvent]:
        """A queue of the events about ``owner``'s strategies (None: every strategy's)."""
        queue: asyncio.Queue[ServiceEvent] = asyncio.Queue()
        self._subscribers[queue] = owner
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ServiceEvent]) -> None:
        self._subscribers.pop(queue, None)
