"""One principal's strategies: the one place where a service call is answered for a principal.

The tools, resources and dashboard reach the strategy service only through ``OwnedStrategies``
(``tools._common.service``), made for the caller of the request:

- a strategy, its history or one of its cycles that belongs to another principal answers
  exactly like an unknown id: the same ``NotFound`` text, raised by the same one-row query
  (``StrategyQueries.require(..., owner=...)``), so neither the answer nor its timing class tells
  that it exists;
- lists hold the caller's own strategies only, and events are the caller's only;
- what the caller creates is its own.

The operator (``Principal.sees_all``, only the server-side CLI) sees and acts on every one. The
scheduler, the replicas and the live desk work below this, on every strategy, whoever owns it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tradeloop.services.models import CyclePage, ServiceEvent, StrategyInfo, TradePage
from tradeloop.services.principals import Principal
from tradeloop.trading.models import CycleResult, PortfolioView, StrategyStatus, TradeDigest

if TYPE_CHECKING:
    from tradeloop.services.live_gate import LiveApproval, LiveGate
    from tradeloop.services.stopping import StopOutcome
    from tradeloop.services.strategies import StrategyService
    from tradeloop.trading.models import UserRequest


class OwnedStrategies:
    """``service`` as ``principal`` sees it: every method checks ownership (``_own``) first."""

    def __init__(self, service: StrategyService, principal: Principal) -> None:
        self._service = service
        self.principal = principal
        self._owner = principal.owner_filter

    @property
    def live_gate(self) -> LiveGate:
        return self._service.live_gate

    async def _own(self, strategy_id: str) -> str:
        """``strategy_id`` when the principal sees it; else ``NotFound`` as for an unknown id."""
        await self._service.require(strategy_id, owner=self._owner)
        return strategy_id

    # ------------------------------------------------------------------ reads

    async def list(self, status: StrategyStatus | None = None) -> list[StrategyInfo]:
        return await self._service.list(status, owner=self._owner)

    async def get(self, strategy_id: str) -> StrategyInfo:
        return await self._service.get(await self._own(strategy_id))

    async def get_portfolio(self, strategy_id: str) -> PortfolioView:
        return await self._service.get_portfolio(await self._own(strategy_id))

    async def get_digest(self, strategy_id: str) -> TradeDigest:
        return await self._service.get_digest(await self._own(strategy_id))

    async def list_trades(self, strategy_id: str, **page: Any) -> TradePage:
        return await self._service.list_trades(await self._own(strategy_id), **page)

    async def list_cycles(self, strategy_id: str, **page: Any) -> CyclePage:
        return await self._service.list_cycles(await self._own(strategy_id), **page)

    async def chart_rows(self, strategy_id: str) -> Sequence[tuple[int, float, str]]:
        return await self._service.chart_rows(await self._own(strategy_id))

    async def get_cycle(self, compose_id: str) -> CycleResult:
        await self._service.require_cycle(compose_id, owner=self._owner)
        return await self._service.get_cycle(compose_id)

    # ------------------------------------------------------------------ commands

    async def create(self, request: UserRequest, **options: Any) -> StrategyInfo:
        """A new strategy, the principal's."""
        return await self._service.create(request, owner=self.principal.name, **options)

    async def start(
        self, strategy_id: str, *, approval: LiveApproval | None = None
    ) -> StrategyInfo:
        return await self._service.start(await self._own(strategy_id), approval=approval)

    async def resume(self, strategy_id: str) -> StrategyInfo:
        return await self._service.resume(await self._own(strategy_id))

    async def pause(self, strategy_id: str, *, reason: str | None = None) -> StrategyInfo:
        return await self._service.pause(await self._own(strategy_id), reason=reason)

    async def stop_closing(self, strategy_id: str, close_positions: bool = False) -> StopOutcome:
        return await self._service.stop_closing(await self._own(strategy_id), close_positions)

    async def update(self, strategy_id: str, **changes: Any) -> StrategyInfo:
        return await self._service.update(await self._own(strategy_id), **changes)

    async def delete(self, strategy_id: str) -> None:
        await self._service.delete(await self._own(strategy_id))

    async def run_cycle_now(self, strategy_id: str) -> CycleResult:
        return await self._service.run_cycle_now(await self._own(strategy_id))

    async def preview_decision(self, strategy_id: str) -> CycleResult:
        return await self._service.preview_decision(await self._own(strategy_id))

    async def close_position(self, strategy_id: str, symbol: str) -> CycleResult:
        return await self._service.close_position(await self._own(strategy_id), symbol)

    # ------------------------------------------------------------------ events

    def subscribe(self) -> asyncio.Queue[ServiceEvent]:
        """Events about the principal's strategies only."""
        return self._service.subscribe(self._owner)

    def unsubscribe(self, queue: asyncio.Queue[ServiceEvent]) -> None:
        self._service.unsubscribe(queue)
