"""``/healthz`` and ``/readyz`` on ``tradeloop serve --http``, for load balancers and service
managers. Neither needs a token nor shows data: ``/healthz`` answers 200 while the process serves
HTTP; ``/readyz`` 200 when the strategy service is open, its database answers and, on a shared
PostgreSQL database, its leases renew; 503 with the reason otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tradeloop.server.app import TradeloopServer

HEADERS = {"Cache-Control": "no-store"}


def health_routes(server: TradeloopServer) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n", headers=HEADERS)

    async def readyz(_: Request) -> Response:
        state = server.app_state
        if state is None:
            return PlainTextResponse("not ready: not started\n", 503, headers=HEADERS)
        try:
            service = await state.service()
        except ToolError as exc:
            return PlainTextResponse(f"not ready: {exc}\n", 503, headers=HEADERS)
        why = await service.readiness()
        if why is not None:
            return PlainTextResponse(f"not ready: {why}\n", 503, headers=HEADERS)
        return PlainTextResponse("ready\n", headers=HEADERS)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
