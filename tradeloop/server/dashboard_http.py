"""``/dashboard`` on ``tradeloop serve --http``: the dashboard page and its live event stream.

    GET /dashboard          the page. It is static and holds no data: every number it shows comes
                            from tool calls it sends to /mcp (one 2026-07-28 POST each), so /mcp's
                            bearer token, validation and tool boundary apply unchanged.
    GET /dashboard/events   server-sent events, one ``strategy`` event per stored cycle and status
                            change (coalesced per strategy when they come faster than they are
                            read); behind the bearer token when one is configured, as /mcp
                            (the same 401 and ``WWW-Authenticate`` challenge), and only about
                            the caller's own strategies.

Both validate Host and Origin as /mcp does (DNS-rebinding protection). The page's
Content-Security-Policy runs only its own inline script (by hash) and allows no other origin: it
cannot reach the network beyond this server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, request_response

from tradeloop.dashboard.page import dashboard_html
from tradeloop.services.principals import current_principal

if TYPE_CHECKING:
    from tradeloop.server.app import TradeloopServer
    from tradeloop.services.models import ServiceEvent
    from tradeloop.services.owned import OwnedStrategies

DASHBOARD_PATH = "/dashboard"
EVENTS_PATH = "/dashboard/events"
POLL_S = 0.5
"""How often an open event stream checks whether the server is shutting down."""
KEEPALIVE_S = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def dashboard_routes(
    server: TradeloopServer,
    security: TransportSecuritySettings,
    closing: Callable[[], bool] = lambda: False,
) -> list[Route]:
    """The page and event-stream routes; ``closing`` tells open streams the server is stopping
    (uvicorn waits for open responses before it shuts down)."""
    guard = TransportSecurityMiddleware(security)

    html = dashboard_html()
    headers = {**PAGE_HEADERS, "Content-Security-Policy": page_policy(html)}

    async def page(request: Request) -> Response:
        refused = await guard.validate_request(request)
        return refused or HTMLResponse(html, headers=headers)

    async def events(request: Request) -> Response:
        refused = await guard.validate_request(request)
        if refused is not None:
            return refused
        state = server.app_state
        if state is None:
            return PlainTextResponse("tradeloop is not running", status_code=503)
        try:  # the caller's strategies only, as on /mcp
            service = await state.owned(current_principal(server.scopes))
        except ToolError as exc:
            return PlainTextResponse(str(exc), status_code=503)
        stream = _event_stream(service, service.subscribe(), closing)
        return StreamingResponse(stream, media_type="text/event-stream", headers=STREAM_HEADERS)

    endpoint: Any = events
    auth = server.settings.auth
    if auth is not None:  # as the SDK guards /mcp: 401 names the resource metadata under OAuth
        resource = auth.resource_server_url
        metadata = build_resource_metadata_url(resource) if resource is not None else None
        endpoint = RequireAuthMiddleware(
            request_response(events), auth.required_scopes or [], metadata
        )
    return [
        Route(DASHBOARD_PATH, page, methods=["GET"]),
        Route(EVENTS_PATH, endpoint, methods=["GET"]),
    ]


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: its own inline scripts (by hash) and nothing else, no
    origin but this server's for requests."""
    digests = (hashlib.sha256(script.encode()).digest() for script in _INLINE_SCRIPT.findall(html))
    hashes = " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests)
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'"
    )


async def _event_stream(
    service: OwnedStrategies,
    queue: asyncio.Queue[ServiceEvent],
    closing: Callable[[], bool],
) -> AsyncIterator[str]:
    try:
        yield "retry: 2000\n: connected\n\n"
        idle = 0.0
        while not closing():
            try:
                first = await asyncio.wait_for(queue.get(), POLL_S)
            except TimeoutError:
                idle += POLL_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield ": keepalive\n\n"
                continue
            idle = 0.0
            for event in _latest_per_strategy(first, queue):
                yield f"event: strategy\ndata: {json.dumps(event_payload(event))}\n\n"
    finally:
        service.unsubscribe(queue)


def _latest_per_strategy(
    first: ServiceEvent, queue: asyncio.Queue[ServiceEvent]
) -> list[ServiceEvent]:
    latest = {first.strategy_id: first}
    while not queue.empty():
        event = queue.get_nowait()
        latest[event.strategy_id] = event
    return list(latest.values())


def event_payload(event: ServiceEvent) -> dict[str, Any]:
    """What the page needs to know that a strategy changed (it then asks the tools for details)."""
    cycle = event.cycle
    return {
        "strategy_id": event.strategy_id,
        "name": event.name,
        "status": event.status.value,
        "reason": event.reason,
        "compose_id": cycle.compose_id if cycle else None,
        "ts": cycle.ts if cycle else None,
        "equity": cycle.strategy_summary.equity if cycle else None,
    }
