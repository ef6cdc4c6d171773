"""``build_server(settings)``: the tradeloop MCP server and its lifespan.

The lifespan owns every resource: it makes the ``AppState`` the tools reach (which opens the
strategy service in a task of its own, so ``initialize`` is answered at once), and closes it all
at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import ListResourcesResult, PaginatedRequestParams

from tradeloop.server.auth import token_gate
from tradeloop.server.strict import StrictServer
from tradeloop.services.app_state import AppState, ServiceOpener, open_strategy_service
from tradeloop.services.market import close_exchanges
from tradeloop.services.principals import ScopeNames, current_principal
from tradeloop.tools import register_all
from tradeloop.tools.dashboard import apps_extension
from tradeloop.tools.resources import strategy_resources

if TYPE_CHECKING:
    from tradeloop.server.oauth_config import OAuthConfig
    from tradeloop.settings import Settings

logger = logging.getLogger(__name__)

SERVER_NAME = "tradeloop"
SHUTDOWN_TIMEOUT_S = 60.0
WARM_UP_JOIN_S = 15.0
INSTRUCTIONS = """\
tradeloop runs trading strategies: each one decides every `decide_interval` seconds on market
features (RSI, MACD, EMAs, Bollinger bands, ATR per candle interval) with a rule composer or an
LLM, passes its orders through guardrails, and trades on paper unless the operator enabled live
trading. Typical flow: create_strategy -> start_strategy (or run_cycle_now to step once) ->
get_portfolio / get_digest to see how it is doing -> list_trades / list_cycles / get_cycle to see
why. Strategy ids look like s_0123456789abcdef; list_strategies shows them. Prices and capital are
in the quote currency (USDT)."""


def lifespan_for(
    settings: Settings, opener: ServiceOpener, warm_up_join_s: float = WARM_UP_JOIN_S
) -> Callable[[MCPServer[AppState]], AbstractAsyncContextManager[AppState]]:
    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        state = AppState(settings)
        state.start(opener)
        if isinstance(server, TradeloopServer):
            server.app_state = state
        try:
            yield state
        finally:
            if isinstance(server, TradeloopServer):
                server.app_state = None
            state.stop()
            with anyio.CancelScope(shield=True):
                if not await state.stopped(SHUTDOWN_TIMEOUT_S):
                    logger.error("the strategy service did not stop in %.0f s", SHUTDOWN_TIMEOUT_S)
                await state.features.close()
                await close_exchanges()
                await state.finish_warm_up(warm_up_join_s)
            logger.info("tradeloop stopped")

    return lifespan


def _version() -> str:
    try:
        return version("tradeloop")
    except PackageNotFoundError:
        return "0+unknown"


class TradeloopServer(StrictServer):
    """The MCP server, plus its running ``AppState`` for the HTTP routes beside ``/mcp`` (the
    dashboard's event stream), which the SDK hands no lifespan context."""

    app_state: AppState | None = None
    oauth: OAuthConfig | None = None
    """The OAuth issuer whose tokens are accepted: ``http_app`` serves its metadata."""

    async def _handle_list_resources(
        self, ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        """The SDK's listing (static resources) plus every strategy's config, portfolio and
        digest."""
        listed = await super()._handle_list_resources(ctx, params)
        state = ctx.lifespan_context
        if isinstance(state, AppState):
            caller = current_principal(self.scopes)
            listed.resources.extend(await strategy_resources(state, caller))
        return listed


def build_server(
    settings: Settings,
    *,
    open_service: ServiceOpener | None = None,
    warm_up_join_s: float = WARM_UP_JOIN_S,
) -> TradeloopServer:
    """The tradeloop MCP server; ``open_service`` replaces ``StrategyService.open`` in tests;
    ``warm_up_join_s``: see ``AppState.finish_warm_up``."""
    gate = token_gate(settings)
    server = TradeloopServer(
        SERVER_NAME,
        version=_version(),
        instructions=INSTRUCTIONS,
        lifespan=lifespan_for(settings, open_service or open_strategy_service, warm_up_join_s),
        token_verifier=gate.verifier,
        auth=gate.auth,
        extensions=[apps_extension()],
    )
    server.oauth = gate.oauth
    server.scopes = ScopeNames.of(settings)
    server.middleware.append(_note_answered)
    register_all(server)
    return server


async def _note_answered(ctx: Any, call_next: Any) -> Any:
    try:
        return await call_next(ctx)
    finally:
        state = ctx.lifespan_context
        if isinstance(state, AppState):
            state.answered(ctx.method)
