"""Each strategy's config, portfolio and digest as resources, for clients that attach them."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from tradeloop.server.errors import resource_boundary
from tradeloop.tools import _views as views
from tradeloop.tools._common import Ctx, service

BASE = "tradeloop://strategies/{strategy_id}"


async def strategy_config(strategy_id: str, ctx: Ctx) -> str:
    return views.detail(await (await service(ctx)).get(strategy_id)).model_dump_json(indent=2)


async def strategy_portfolio(strategy_id: str, ctx: Ctx) -> str:
    view = await (await service(ctx)).get_portfolio(strategy_id)
    return views.portfolio(view).model_dump_json(indent=2)


async def strategy_digest(strategy_id: str, ctx: Ctx) -> str:
    digest = await (await service(ctx)).get_digest(strategy_id)
    return views.digest(strategy_id, digest).model_dump_json(indent=2)


def register(server: MCPServer) -> None:
    for suffix, fn, title, description in (
        ("config", strategy_config, "Strategy config", "Status and normalized configuration."),
        ("portfolio", strategy_portfolio, "Strategy portfolio", "Cash, positions, equity, limits."),
        (
            "digest",
            strategy_digest,
            "Strategy digest",
            "Per-instrument stats, Sharpe, Sortino, drawdown.",
        ),
    ):
        server.resource(
            f"{BASE}/{suffix}",
            name=f"strategy_{suffix}",
            title=title,
            description=description,
            mime_type="application/json",
        )(resource_boundary(fn))
