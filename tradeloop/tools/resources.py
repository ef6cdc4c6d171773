"""Each strategy's config, portfolio and digest as resources, for clients that attach them."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Resource

from tradeloop.services.app_state import AppState
from tradeloop.services.principals import Principal
from tradeloop.tools import _views as views
from tradeloop.tools._common import Ctx, service
from tradeloop.tools.errors import resource_boundary

BASE = "tradeloop://strategies/{strategy_id}"


async def strategy_config(strategy_id: str, ctx: Ctx) -> str:
    return views.detail(await (await service(ctx)).get(strategy_id)).model_dump_json(indent=2)


async def strategy_portfolio(strategy_id: str, ctx: Ctx) -> str:
    view = await (await service(ctx)).get_portfolio(strategy_id)
    return views.portfolio(view).model_dump_json(indent=2)


async def strategy_digest(strategy_id: str, ctx: Ctx) -> str:
    digest = await (await service(ctx)).get_digest(strategy_id)
    return views.digest(strategy_id, digest).model_dump_json(indent=2)


PARTS = (
    ("config", strategy_config, "Strategy config", "Status and normalized configuration."),
    ("portfolio", strategy_portfolio, "Strategy portfolio", "Cash, positions, equity, limits."),
    (
        "digest",
        strategy_digest,
        "Strategy digest",
        "Per-instrument stats, Sharpe, Sortino, drawdown.",
    ),
)


async def strategy_resources(state: AppState, caller: Principal) -> list[Resource]:
    """Each of ``caller``'s strategies' resources, for ``resources/list`` (the SDK lists only the
    templates above, so a host that attaches listed resources would see none). Empty while the
    store cannot be opened: listing must not fail because of it."""
    try:
        svc = await state.owned(caller)
    except ToolError:
        return []
    return [
        Resource(
            uri=f"{BASE.format(strategy_id=info.strategy_id)}/{suffix}",
            name=f"{info.name} {suffix}",
            title=f"{title}: {info.name}",
            description=f"{description} Strategy {info.strategy_id} ({info.status.value}).",
            mime_type="application/json",
        )
        for info in await svc.list()
        for suffix, _fn, title, description in PARTS
    ]


def register(server: MCPServer) -> None:
    for suffix, fn, title, description in PARTS:
        server.resource(
            f"{BASE}/{suffix}",
            name=f"strategy_{suffix}",
            title=title,
            description=description,
            mime_type="application/json",
        )(resource_boundary(fn))
