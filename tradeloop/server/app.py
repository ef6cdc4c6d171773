"""``build_server(settings)``: the tradeloop MCP server, its lifespan and the state tools reach.

The lifespan owns every resource. It yields at once so that ``initialize`` is answered without
waiting for anything heavy, and opens the strategy service (store, resumed strategies, scheduler)
in a task of its own; a tool that needs the service waits for that task (bounded). Once the
service is up, pandas-ta is warmed up on a worker thread so the first cycle does not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tradeloop.server.market import FeatureQueries, close_exchanges
from tradeloop.server.strict import StrictServer

if TYPE_CHECKING:
    from tradeloop.backtest.runner import BacktestRuns
    from tradeloop.services.strategies import StrategyService
    from tradeloop.settings import Settings

logger = logging.getLogger(__name__)

SERVER_NAME = "tradeloop"
STARTUP_TIMEOUT_S = 120.0
SHUTDOWN_TIMEOUT_S = 60.0
OPEN_AFTER_HANDSHAKE_S = 0.05
OPEN_WITHIN_S = 1.0
WARM_UP_JOIN_S = 15.0
INSTRUCTIONS = """\
tradeloop runs trading strategies: each one decides every `decide_interval` seconds on market
features (RSI, MACD, EMAs, Bollinger bands, ATR per candle interval) with a rule composer or an
LLM, passes its orders through guardrails, and trades on paper unless the operator enabled live
trading. Typical flow: create_strategy -> start_strategy (or run_cycle_now to step once) ->
get_portfolio / get_digest to see how it is doing -> list_trades / list_cycles / get_cycle to see
why. Strategy ids look like s_0123456789abcdef; list_strategies shows them. Prices and capital are
in the quote currency (USDT)."""

ServiceOpener = Callable[["Settings"], AbstractAsyncContextManager[Any]]
"""Opens the strategy service for the lifespan of the server (``StrategyService.open``)."""


@asynccontextmanager
async def open_strategy_service(settings: Settings) -> AsyncIterator[StrategyService]:
    # Import the service stack on a worker thread: it is the heavy part of start-up, and the
    # event loop must stay free to answer ``initialize`` meanwhile.
    module = await asyncio.to_thread(importlib.import_module, "tradeloop.services.strategies")
    async with module.StrategyService.open(settings) as service:
        yield service


class AppState:
    """What every tool reaches through ``ctx.request_context.lifespan_context``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.features = FeatureQueries(settings.replay_dir)
        self._backtests: BacktestRuns | None = None
        self._service: Any = None
        self._failure: str | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._open_now = asyncio.Event()
        self._warm_up: threading.Thread | None = None

    @property
    def replay(self) -> bool:
        return self.settings.replay_dir is not None

    async def service(self) -> StrategyService:
        """The strategy service, once the store is open; a ToolError if it cannot be."""
        self._open_now.set()
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), STARTUP_TIMEOUT_S)
            except TimeoutError:
                raise ToolError(
                    "tradeloop is still opening its strategy store; try again shortly"
                ) from None
        if self._service is None:
            if self._failure is None:
                raise ToolError("tradeloop is shutting down; the strategy store is closed")
            raise ToolError(f"the strategy store could not be opened: {self._failure}")
        return self._service

    def backtests(self) -> BacktestRuns:
        """The backtest runs of this server (kept in memory), created on first use."""
        if self._backtests is None:
            from tradeloop.backtest.runner import BacktestRuns

            self._backtests = BacktestRuns()
        return self._backtests

    def secrets(self) -> list[str]:
        """Values that must never appear in a tool result."""
        values = (self.settings.anthropic_api_key, self.settings.http_token)
        return [v.get_secret_value() for v in values if v is not None]

    def answered(self, method: str) -> None:
        """A message was handled: once the handshake is answered, start opening the service."""
        if method == "initialize" and not self._open_now.is_set():
            asyncio.get_running_loop().call_later(OPEN_AFTER_HANDSHAKE_S, self._open_now.set)
        elif method != "initialize":
            self._open_now.set()

    async def run_service(self, opener: ServiceOpener) -> None:
        """Open the service, keep it open until ``stop``, close it. Never raises.

        Opening imports the whole service stack; started while ``initialize`` is still being
        answered, that import competes with it for the interpreter (measured: +300 ms at the
        median on a loaded machine). So it starts once the first message has been answered, once
        a tool needs the service, or after ``OPEN_WITHIN_S`` anyway, so that running strategies
        resume whether or not a client ever connects.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._open_now.wait(), OPEN_WITHIN_S)
        try:
            async with opener(self.settings) as service:
                self._service = service
                self._ready.set()
                logger.info("strategy service ready (store %s)", self.settings.db_path)
                self._warm_up = _start_warm_up()
                await self._stop.wait()
        except Exception as exc:  # the start-up boundary: tools report it, the log has the trace
            logger.exception("the strategy service failed")
            self._failure = _failure_text(exc)
        finally:
            self._service = None
            self._ready.set()

    def stop(self) -> None:
        self._stop.set()

    async def finish_warm_up(self) -> None:
        """Let a compile in progress end rather than kill it at interpreter exit (bounded)."""
        if self._warm_up is not None and self._warm_up.is_alive():
            await asyncio.to_thread(self._warm_up.join, WARM_UP_JOIN_S)


def _failure_text(exc: Exception) -> str:
    from tradeloop.server.errors import scrub
    from tradeloop.trading.errors import ConfigError

    if isinstance(exc, ConfigError):
        return scrub(str(exc))
    return f"{type(exc).__name__}; the server log has the details"


def _start_warm_up() -> threading.Thread:
    def warm() -> None:
        try:
            from tradeloop.trading.features.warmup import warm_up

            warm_up()
        except Exception:  # a failed warm-up only costs the first cycle its speed
            logger.exception("feature warm-up failed")

    thread = threading.Thread(target=warm, name="tradeloop-warmup", daemon=True)
    thread.start()
    return thread


def lifespan_for(
    settings: Settings, opener: ServiceOpener
) -> Callable[[MCPServer[AppState]], AbstractAsyncContextManager[AppState]]:
    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        state = AppState(settings)
        runner = asyncio.create_task(state.run_service(opener), name="tradeloop-service")
        if isinstance(server, TradeloopServer):
            server.app_state = state
        try:
            yield state
        finally:
            if isinstance(server, TradeloopServer):
                server.app_state = None
            state.stop()
            with anyio.CancelScope(shield=True):
                done, _pending = await asyncio.wait({runner}, timeout=SHUTDOWN_TIMEOUT_S)
                if not done:
                    logger.error("the strategy service did not stop in %.0f s", SHUTDOWN_TIMEOUT_S)
                    runner.cancel()
                await state.features.close()
                await close_exchanges()
                await state.finish_warm_up()
            logger.info("tradeloop stopped")

    return lifespan


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradeloop")
    except PackageNotFoundError:
        return "0+unknown"


class TradeloopServer(StrictServer):
    """The MCP server, plus its running ``AppState`` for the HTTP routes beside ``/mcp`` (the
    dashboard's event stream), which the SDK hands no lifespan context."""

    app_state: AppState | None = None


def build_server(
    settings: Settings, *, open_service: ServiceOpener | None = None
) -> TradeloopServer:
    """The tradeloop MCP server; ``open_service`` replaces ``StrategyService.open`` in tests."""
    from tradeloop.server.auth import StaticTokenVerifier, auth_settings
    from tradeloop.tools import register_all
    from tradeloop.tools.dashboard import apps_extension

    token = settings.http_token.get_secret_value() if settings.http_token else None
    server = TradeloopServer(
        SERVER_NAME,
        version=_version(),
        instructions=INSTRUCTIONS,
        lifespan=lifespan_for(settings, open_service or open_strategy_service),
        token_verifier=StaticTokenVerifier(token) if token else None,
        auth=auth_settings() if token else None,
        extensions=[apps_extension()],
    )
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
