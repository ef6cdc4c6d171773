"""``AppState``: what every MCP tool reaches through its context, made by the server's lifespan.

It holds the settings, the feature queries, the backtest service, and the strategy service, which
it opens in a task of its own so that ``initialize`` is answered without waiting for anything
heavy; a tool that needs the service waits for that task (bounded). Once the service is up,
pandas-ta is warmed up on a worker thread so the first cycle does not pay for it.

Tools and the server both import this module; it imports nothing above the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError

from tradeloop.services.market import FeatureQueries
from tradeloop.services.scrub import scrub
from tradeloop.trading.errors import ConfigError

if TYPE_CHECKING:
    from tradeloop.services.backtests import BacktestService
    from tradeloop.services.owned import OwnedStrategies
    from tradeloop.services.principals import Principal
    from tradeloop.services.strategies import StrategyService
    from tradeloop.settings import Settings
    from tradeloop.store.db import StoreInUse

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 120.0
OPEN_AFTER_HANDSHAKE_S = 0.05
OPEN_WITHIN_S = 1.0

ServiceOpener = Callable[["Settings"], AbstractAsyncContextManager[Any]]
"""Opens the strategy service for the lifespan of the server (``StrategyService.open``)."""


@asynccontextmanager
async def open_strategy_service(settings: Settings) -> AsyncIterator[StrategyService]:
    # Import the service stack on a worker thread: it is the heavy part of start-up, and the
    # event loop must stay free to answer ``initialize`` meanwhile.
    module = await _import_on_daemon_thread("tradeloop.services.strategies")
    async with module.StrategyService.open(settings) as service:
        yield service


async def _import_on_daemon_thread(name: str) -> Any:
    """``importlib.import_module(name)`` off the event loop, on a daemon thread: a shutdown that
    comes during the import abandons it instead of waiting seconds for it to finish (the
    default executor's threads are joined when the event loop closes)."""
    loop = asyncio.get_running_loop()
    imported: asyncio.Future[Any] = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not imported.done():
            setter(value)

    def run() -> None:
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # handed to the awaiting task, which raises it
            outcome: tuple[Callable[[Any], None], Any] = (imported.set_exception, exc)
        else:
            outcome = (imported.set_result, module)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=run, name="tradeloop-import", daemon=True).start()
    return await imported


class AppState:
    """What every tool reaches through ``ctx.request_context.lifespan_context``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.features = FeatureQueries(settings.replay_dir)
        self._backtests: BacktestService | None = None
        self._service: Any = None
        self._failure: str | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._open_now = asyncio.Event()
        self._warm_up: threading.Thread | None = None
        self._runner: asyncio.Task[None] | None = None
        self._opener: ServiceOpener | None = None
        self._retry_open = False
        """The store was held by another process: the next tool call tries to open it again."""

    def start(self, opener: ServiceOpener) -> None:
        """Run the service (``run_service``) in a task of its own."""
        self._opener = opener
        self._runner = asyncio.create_task(self.run_service(opener), name="tradeloop-service")

    async def stopped(self, timeout: float) -> bool:
        """Stop the service and wait for it (bounded); False if it did not stop in time."""
        self.stop()
        runner = self._runner
        if runner is None:
            return True
        done, _pending = await asyncio.wait({runner}, timeout=timeout)
        if not done:
            runner.cancel()
        return bool(done)

    @property
    def replay(self) -> bool:
        return self.settings.replay_dir is not None

    async def service(self) -> StrategyService:
        """The strategy service, once the store is open; a ToolError if it cannot be."""
        self._open_now.set()
        if self._retry_open and not self._stop.is_set() and self._opener is not None:
            self._retry_open = False  # the other process may be gone by now: try again
            self._ready.clear()
            self._failure = None
            self.start(self._opener)
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

    async def owned(self, principal: Principal) -> OwnedStrategies:
        """The strategy service as ``principal`` sees it (``services.owned``)."""
        from tradeloop.services.owned import OwnedStrategies  # with the service stack, not before

        return OwnedStrategies(await self.service(), principal)

    def backtests(self) -> BacktestService:
        """The backtest service of this server (it keeps the runs in memory), made on first use."""
        if self._backtests is None:
            # here: the backtest stack (numpy, pandas) stays out of start-up until a backtest
            from tradeloop.services.backtests import BacktestService

            self._backtests = BacktestService(self.service, self.settings.replay_dir)
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
        from tradeloop.store.db import StoreInUse  # here: aiosqlite stays out of start-up

        stopped = asyncio.ensure_future(self._stop.wait())
        opened = asyncio.ensure_future(self._open_now.wait())
        await asyncio.wait({stopped, opened}, timeout=OPEN_WITHIN_S, return_when=FIRST_COMPLETED)
        opened.cancel()
        try:
            if not self._stop.is_set():
                await self._serve_until_stopped(opener, stopped)
        except StoreInUse as exc:
            logger.warning("%s; tool calls will say so and try again", exc)
            self._failure = in_use_text(exc)
            self._retry_open = True
        except Exception as exc:  # the start-up boundary: tools report it, the log has the trace
            logger.exception("the strategy service failed")
            self._failure = _failure_text(exc)
        finally:
            stopped.cancel()
            self._service = None
            self._ready.set()

    async def _serve_until_stopped(
        self, opener: ServiceOpener, stopped: asyncio.Future[Any]
    ) -> None:
        """Open the service and hold it open until ``stopped``; a stop that comes while it is
        still opening cancels the opening (its own clean-up closes what was opened)."""
        async with contextlib.AsyncExitStack() as stack:
            entering = asyncio.ensure_future(stack.enter_async_context(opener(self.settings)))
            await asyncio.wait({entering, stopped}, return_when=FIRST_COMPLETED)
            if not entering.done():
                entering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await entering
                logger.info("stopped while the strategy service was opening")
                return
            self._service = entering.result()
            self._ready.set()
            logger.info("strategy service ready (store %s)", self.settings.db_path)
            self._warm_up = _start_warm_up()
            await stopped

    def stop(self) -> None:
        self._stop.set()

    async def finish_warm_up(self, join_s: float) -> None:
        """Let a compile in progress end rather than kill it at interpreter exit (bounded). A
        process that leaves with ``os._exit`` (``tradeloop serve``) has no interpreter exit to
        fear and passes 0: waiting for the compile would hold its SIGTERM for seconds."""
        if join_s > 0 and self._warm_up is not None and self._warm_up.is_alive():
            await asyncio.to_thread(self._warm_up.join, join_s)


def in_use_text(exc: StoreInUse) -> str:
    """What a tool says while another process holds the database, and what to do about it."""
    return (
        f"{exc}. Only one tradeloop server can run strategies from a database at a time: stop "
        f"the other one (another MCP host's tradeloop, or a leftover 'tradeloop serve' or "
        f"'tradeloop run'; pid {exc.pid}) and call this tool again, or give this server its own "
        "database (--db or TRADELOOP_DB) and restart it"
    )


def _failure_text(exc: Exception) -> str:
    if isinstance(exc, ConfigError):
        return scrub(str(exc))
    return f"{type(exc).__name__}; the server log has the details"


def _start_warm_up() -> threading.Thread:
    def warm() -> None:
        try:
            # here: the warm-up imports pandas-ta, seconds that must not delay start-up
            from tradeloop.trading.features.warmup import warm_up

            warm_up()
        except Exception:  # a failed warm-up only costs the first cycle its speed
            logger.exception("feature warm-up failed")

    thread = threading.Thread(target=warm, name="tradeloop-warmup", daemon=True)
    thread.start()
    return thread
