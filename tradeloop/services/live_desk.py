"""The live desk: everything a live strategy (``trading_mode='live'``) needs around its cycles.

In order, before any traffic to the venue: the operator setting (``live_trading_enabled``), a
runnable live request, then a human's ``approval`` for exactly that request (``LiveGate``).
Created: the initial capital is the account's available cash less the cash of the other live
strategies on the account (refused when nothing is left). Started, resumed, or resumed at open
(``approve_resume``: the operator setting only): connected to the venue and reconciled first; a
mismatch pauses the strategy with the reason. Loaded to close positions: connected, with the
operator setting checked again. Strategies on one account share a lock (``LiveLink``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeloop.services.desk import is_live
from tradeloop.services.live import (
    LiveLink,
    account_of,
    market_constraints,
    open_live_gateway,
    quote_currency,
    with_live_capital,
)
from tradeloop.services.live_gate import (
    Action,
    ConfirmationMissing,
    LiveApproval,
    LiveGate,
    LiveTradingDisabled,
    live_params,
)
from tradeloop.services.loaded import LoadedStrategy
from tradeloop.services.models import ReplaySpec
from tradeloop.services.queries import stored_portfolio
from tradeloop.services.registry import StrategyRegistry
from tradeloop.settings import Settings
from tradeloop.store.strategies import StrategyRow
from tradeloop.trading.clock import Clock
from tradeloop.trading.errors import ConfigError, TemporaryError
from tradeloop.trading.execution.intents import IntentStore
from tradeloop.trading.models import StrategyStatus, UserRequest
from tradeloop.trading.utils import to_decimal

logger = logging.getLogger(__name__)

S = StrategyStatus
SWITCHED_OFF = (
    "live trading is switched off on this server (TRADELOOP_LIVE_TRADING); "
    "paused at restart: switch it on, then resume_strategy"
)


class LiveDesk:
    run_now_from = frozenset({S.RUNNING})

    def __init__(
        self,
        registry: StrategyRegistry,
        settings: Settings,
        gate: LiveGate,
        intents: IntentStore,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self.gate = gate
        self._intents = intents
        self._clock = clock
        self._account_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def check_update(self, row: StrategyRow, changes: Mapping[str, Any]) -> None:
        """Its caps and settings were confirmed by a human with its start: change them only
        while it is not trading, so the next start asks again."""
        if changes and row.status in (S.RUNNING, S.PAUSED):
            raise ConfigError(
                f"live strategy {row.id} is {row.status.value}: stop it before changing "
                f"{', '.join(sorted(changes))}; starting it again asks for a new confirmation"
            )

    async def prepare(
        self,
        request: UserRequest,
        *,
        strategy_id: str,
        agent_kind: str,
        replay: ReplaySpec | str | Path | None,
        approval: LiveApproval | None,
    ) -> tuple[UserRequest, ReplaySpec | None]:
        """``initial_capital`` becomes at most the account's available cash of the symbols'
        quote currency that no other live strategy holds."""
        self._check(request, replay, approval, "create")
        self._registry.agent(agent_kind)
        assert approval is not None  # checked
        gateway = open_live_gateway(
            self.gate,
            approval,
            "create",
            request,
            intents=self._intents,
            strategy_id=strategy_id,
            clock=self._clock,
            backoff_s=self._settings.live_backoff_s,
        )
        await market_constraints(gateway, request)  # every symbol is listed
        reserved, holders = await self._reserved_capital(request)
        return await with_live_capital(gateway, request, reserved, holders), None

    async def open(
        self, row: StrategyRow, approval: LiveApproval | None, *, resume: bool
    ) -> tuple[LoadedStrategy, str | None]:
        """Start needs an ``approval`` for this strategy; resume checks the operator setting
        again. Then connect and reconcile."""
        if resume:
            approval = self.gate.approve_resume(live_params("start", row.request, row.id))
        else:
            self._check(row.request, None, approval, "start", row.id)
        assert approval is not None  # checked
        return await self._reconciled(row, approval)

    async def reopen(self, row: StrategyRow) -> LoadedStrategy | None:
        """Reconcile, or stay paused saying why. With live trading switched off on this server
        it stays paused, saying so (not ``error``: switching it back on and resuming needs no
        new confirmation)."""
        try:
            approval = self.gate.approve_resume(live_params("start", row.request, row.id))
        except LiveTradingDisabled:
            await self._registry.transition(
                row.id, S.PAUSED, SWITCHED_OFF, action="pause", allowed={S.RUNNING}
            )
            return None
        try:
            loaded, reason = await self._reconciled(row, approval)
        except TemporaryError as exc:
            reason = f"live reconciliation could not reach the venue ({exc}); resume to retry"
            await self._registry.transition(
                row.id, S.PAUSED, reason, action="pause", allowed={S.RUNNING}
            )
            return None
        if reason is not None:
            await self._registry.move(loaded, S.PAUSED, reason, action="pause", allowed={S.RUNNING})
            return None
        logger.info("resumed live strategy_id=%s name=%s", row.id, row.name)
        return loaded

    async def for_closing(self, row: StrategyRow) -> LoadedStrategy:
        """Connected to its venue (``close_live`` settles with the venue first)."""
        loaded = self._registry.loaded.get(row.id)
        if loaded is None or loaded.live is None:
            approval = self.gate.approve_resume(live_params("start", row.request, row.id))
            loaded = await self._connect(row, approval)
        loaded.row = row
        return loaded

    # ------------------------------------------------------------------ internals

    def _check(
        self,
        request: UserRequest,
        replay: object,
        approval: LiveApproval | None,
        action: Action,
        strategy_id: str | None = None,
    ) -> None:
        """The operator setting, a runnable live request, then the approval."""
        self.gate.require_enabled()
        if replay is not None or self._settings.replay_dir is not None:
            raise ConfigError(
                "live trading needs live market data: this server replays history (replay_dir) "
                "or a replay was asked for; use trading_mode='paper' to replay"
            )
        if not request.exchange_config.credentials_name:
            raise ConfigError(
                "live trading needs exchange_config.credentials_name, naming credentials the "
                "operator configured on the server"
            )
        quote_currency(request)
        if approval is None:
            raise ConfirmationMissing(
                f"{action} of a live strategy needs a human confirmation of this exact request "
                "(the MCP tools ask for it; `tradeloop run` needs --confirm-live); nothing was done"
            )
        self.gate.check(approval, action, live_params(action, request, strategy_id))

    async def _reserved_capital(self, request: UserRequest) -> tuple[Decimal, Sequence[str]]:
        """The cash of the live strategies (not stopped) on the same account and quote currency:
        the free balance still counts it, so a new strategy must not take it as its capital."""
        account, quote = account_of(request), quote_currency(request)
        sharing = [
            row
            for row in await self._registry.strategies.all()
            if row.status is not S.STOPPED
            and is_live(row.request)
            and account_of(row.request) == account
            and quote_currency(row.request) == quote
        ]
        reserved = Decimal(0)
        for row in sharing:
            view = await stored_portfolio(self._registry.cycles, row)
            reserved += to_decimal(max(view.account_balance, 0.0))
        return reserved, [f"{row.name} ({row.id})" for row in sharing]

    async def _connect(self, row: StrategyRow, approval: LiveApproval) -> LoadedStrategy:
        """Load ``row`` to trade on its venue account, with the venue's market rules."""
        await self._registry.unload(row.id)
        gateway = open_live_gateway(
            self.gate,
            approval,
            "start",
            row.request,
            intents=self._intents,
            strategy_id=row.id,
            approval_strategy_id=row.id,
            clock=self._clock,
            backoff_s=self._settings.live_backoff_s,
        )
        link = LiveLink(gateway, self._account_locks[gateway.account])
        loaded = await self._registry.load(row, link)
        try:
            loaded.portfolio.set_constraints(await market_constraints(gateway, row.request))
        except BaseException:
            await self._registry.unload(row.id)
            raise
        return loaded

    async def _reconciled(
        self, row: StrategyRow, approval: LiveApproval
    ) -> tuple[LoadedStrategy, str | None]:
        """Connect, then reconcile: (the loaded strategy, why it must pause or None)."""
        loaded = await self._connect(row, approval)
        try:
            return loaded, (await loaded.settle_with_venue()).pause_reason
        except BaseException:
            await self._registry.unload(row.id)
            raise
