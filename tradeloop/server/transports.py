"""Running the server: stdio (what desktop hosts launch) and streamable HTTP.

HTTP binds loopback by default, where Host and Origin are validated against loopback names (DNS
rebinding protection: a bad Host gets 421, a bad Origin 403). A non-loopback address is refused
unless bearer tokens are configured (the static token, a tokens file or an OAuth issuer); then
every request without a valid one gets 401.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from tradeloop.server.app import TradeloopServer
from tradeloop.server.dashboard_http import dashboard_routes
from tradeloop.server.health import health_routes
from tradeloop.server.hosts import is_loopback
from tradeloop.server.oauth_config import protected_resource_routes
from tradeloop.trading.errors import ConfigError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from tradeloop.server.strict import StrictServer

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"


def check_bind(host: str, token_configured: bool) -> None:
    """Refuse to expose the server beyond this machine without a bearer token."""
    if not is_loopback(host) and not token_configured:
        raise ConfigError(
            f"refusing to listen on {host}: a non-loopback address needs a bearer token; "
            "set TRADELOOP_HTTP_TOKEN (clients then send 'Authorization: Bearer <token>'), "
            "a tokens file (--tokens) or an OAuth issuer (TRADELOOP_OAUTH_ISSUER), "
            "or bind 127.0.0.1"
        )


def transport_security(
    host: str,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
) -> TransportSecuritySettings:
    """Host/Origin validation: loopback names always, plus the bind address and any extras.

    On a wildcard bind (0.0.0.0, ::) without ``allowed_hosts`` the Host header cannot be known in
    advance, so validation is off and the bearer token alone protects the server.
    """
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *allowed_hosts]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *allowed_origins]
    wildcard = host in ("0.0.0.0", "::", "")
    if not is_loopback(host) and not wildcard:
        shown = f"[{host}]" if ":" in host else host
        hosts.append(f"{shown}:*")
        origins += [f"http://{shown}:*", f"https://{shown}:*"]
    if wildcard and not allowed_hosts:
        logger.warning(
            "listening on %s: Host/Origin validation is off, the token guards access", host
        )
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def http_app(
    server: MCPServer,
    host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    closing: Callable[[], bool] = lambda: False,
) -> Starlette:
    """The streamable HTTP ASGI app at ``/mcp`` (its lifespan runs the server's lifespan), with
    the dashboard at ``/dashboard``; ``closing`` says when to end the dashboard's event streams."""
    oauth = server.oauth if isinstance(server, TradeloopServer) else None
    if oauth is not None:  # the public URL clients reach through a proxy is ours by definition
        allowed_hosts = [*allowed_hosts, *oauth.resource_hosts()]
        allowed_origins = [*allowed_origins, oauth.resource_origin()]
    security = transport_security(host, allowed_hosts, allowed_origins)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, transport_security=security, host=host
    )
    if isinstance(server, TradeloopServer):
        app.router.routes.extend(dashboard_routes(server, security, closing))
        app.router.routes.extend(health_routes(server))
        if oauth is not None:  # first: they replace the SDK's metadata route
            app.router.routes[0:0] = protected_resource_routes(oauth)
    return app


async def serve_http(
    server: MCPServer,
    host: str,
    port: int,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
) -> None:
    runner: uvicorn.Server | None = None
    app = http_app(
        server,
        host,
        allowed_hosts,
        allowed_origins,
        closing=lambda: runner is not None and runner.should_exit,
    )
    # log_config=None: uvicorn's loggers propagate to ours (stderr) instead of its own handlers.
    # timeout_graceful_shutdown: an open stream (a client's GET, the dashboard's events) must
    # not hold SIGTERM past the 2 s a service manager gives before it kills the process.
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=1
    )
    logger.info("tradeloop MCP over HTTP at http://%s:%d%s", host, port, MCP_PATH)
    logger.info("dashboard at http://%s:%d/dashboard", host, port)
    runner = uvicorn.Server(config)
    await runner.serve()


async def serve_stdio(server: StrictServer) -> None:
    """Serve over stdin/stdout until the host closes stdin or sends SIGTERM / SIGINT.

    stdin is read by a daemon thread (``stdin_lines``), so a signal ends the server even while the
    host keeps stdin open: a blocking read on a worker thread cannot be cancelled, and the SDK's
    own reader would hold the process until the host closes the pipe.
    """
    async with anyio.create_task_group() as tasks, stdin_lines() as lines:
        tasks.start_soon(_cancel_on_signal, tasks.cancel_scope)
        await server.run_stdio_on(lines)
        tasks.cancel_scope.cancel()


class StdinLines:
    """The lines of a file descriptor as an async iterator, read by a daemon thread."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._thread = threading.Thread(target=self._read, name="tradeloop-stdin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        line = await self._lines.get()
        if line is None:
            self._lines.put_nowait(None)  # end of input stays the end for every later read
            raise StopAsyncIteration
        return line

    def _read(self) -> None:
        # os.read, not a buffered file: a daemon thread blocked inside a BufferedReader can make
        # interpreter shutdown fail on the buffer's lock; a raw read holds no Python lock.
        pending = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop() if chunk else b""
            if not chunk and lines[-1] == b"":
                lines.pop()
            for raw in lines:
                if not self._put(raw.decode("utf-8", errors="replace") + "\n"):
                    return
            if not chunk:
                self._put(None)
                return

    def _put(self, line: str | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
        except RuntimeError:  # the event loop is closed: the server has stopped
            return False
        return True


@asynccontextmanager
async def stdin_lines() -> AsyncIterator[StdinLines]:
    """Take fd 0 for the protocol: a private duplicate feeds ``StdinLines`` and fd 0 reads the
    null device meanwhile (as the SDK does), so a child process never eats protocol input."""
    private = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    lines = StdinLines(private)
    lines.start()
    try:
        yield lines
    finally:
        os.dup2(private, 0)  # the reader thread may still block on ``private``: never closed


async def _cancel_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for received in signals:
            logger.info("received %s, shutting down", signal.Signals(received).name)
            scope.cancel()
            return
