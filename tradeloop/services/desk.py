"""The desk a strategy trades at: paper (simulated fills on live or replayed prices) or live (a
venue account, ``live_desk.LiveDesk``).

A strategy's ``trading_mode`` is fixed when it is created, so its desk is chosen once, by
``Desks.of``, and the commands ask that desk instead of branching on the mode: what creating
needs (``prepare``), how starting or resuming loads it (``open``), how it is loaded again when the
process starts (``reopen``), how it is loaded to close positions (``for_closing``), which changes
and on-demand cycles it allows. The cycle itself and forced closes are chosen with the loaded
strategy (``LoadedStrategy.forced_close``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from tradeloop.services.live_gate import LiveApproval
from tradeloop.services.loaded import LoadedStrategy
from tradeloop.services.models import ReplaySpec
from tradeloop.services.registry import StrategyRegistry
from tradeloop.settings import Settings
from tradeloop.store.strategies import StrategyRow
from tradeloop.trading.models import StrategyStatus, TradingMode, UserRequest

logger = logging.getLogger(__name__)
S = StrategyStatus
CAN_RUN_NOW = frozenset({S.CREATED, S.RUNNING, S.PAUSED})


class Desk(Protocol):
    run_now_from: frozenset[StrategyStatus]
    """The statuses from which ``run_cycle_now`` may run a cycle."""

    def check_update(self, row: StrategyRow, changes: Mapping[str, Any]) -> None:
        """Raise ``ConfigError`` when ``changes`` may not be made now."""

    async def prepare(
        self,
        request: UserRequest,
        *,
        strategy_id: str,
        agent_kind: str,
        replay: ReplaySpec | str | Path | None,
        approval: LiveApproval | None,
    ) -> tuple[UserRequest, ReplaySpec | None]:
        """Check a new strategy can run here: the request to store and its replay (if any)."""
        ...

    async def open(
        self, row: StrategyRow, approval: LiveApproval | None, *, resume: bool
    ) -> tuple[LoadedStrategy, str | None]:
        """Load ``row`` to run (start, or ``resume`` from paused): (loaded, why it must pause)."""
        ...

    async def reopen(self, row: StrategyRow) -> LoadedStrategy | None:
        """Load a strategy stored as running when the process starts; None: it was paused."""
        ...

    async def for_closing(self, row: StrategyRow) -> LoadedStrategy:
        """Load ``row`` to close its positions."""
        ...


class PaperDesk:
    """Simulated fills: nothing to check beyond the agent and the replay data."""

    run_now_from = CAN_RUN_NOW

    def __init__(self, registry: StrategyRegistry, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings

    def check_update(self, row: StrategyRow, changes: Mapping[str, Any]) -> None:
        return None

    async def prepare(
        self,
        request: UserRequest,
        *,
        strategy_id: str,
        agent_kind: str,
        replay: ReplaySpec | str | Path | None,
        approval: LiveApproval | None,
    ) -> tuple[UserRequest, ReplaySpec | None]:
        self._registry.agent(agent_kind)
        spec = self._replay_spec(replay)
        if spec is not None:
            self._registry.replays.timeline(spec, request)
        return request, spec

    async def open(
        self, row: StrategyRow, approval: LiveApproval | None, *, resume: bool
    ) -> tuple[LoadedStrategy, str | None]:
        return await self._registry.load(row), None

    async def reopen(self, row: StrategyRow) -> LoadedStrategy | None:
        loaded = await self._registry.load(row)
        logger.info("resumed strategy_id=%s name=%s", row.id, row.name)
        return loaded

    async def for_closing(self, row: StrategyRow) -> LoadedStrategy:
        return await self._registry.load(row)

    def _replay_spec(self, replay: ReplaySpec | str | Path | None) -> ReplaySpec | None:
        """``replay`` None: the server's ``replay_dir`` if set, else live market data."""
        if replay is None:
            if self._settings.replay_dir is None:
                return None
            replay = self._settings.replay_dir
        if isinstance(replay, str | Path):
            replay = ReplaySpec(data_dir=str(replay))
        return replay.model_copy(update={"data_dir": str(Path(replay.data_dir).resolve())})


class Desks:
    """The paper desk and the live desk of one service; ``of`` picks a strategy's."""

    def __init__(self, paper: Desk, live: Desk) -> None:
        self._paper = paper
        self._live = live

    def of(self, request: UserRequest) -> Desk:
        return self._live if is_live(request) else self._paper


def is_live(request: UserRequest) -> bool:
    return request.exchange_config.trading_mode is TradingMode.LIVE
