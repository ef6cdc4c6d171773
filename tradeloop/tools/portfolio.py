"""Portfolio tools: the current portfolio of a strategy, and closing one of its positions."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tradeloop.dashboard.page import LINKED_META
from tradeloop.tools import _views as views
from tradeloop.tools._common import READ_ONLY, Ctx, StrategyId, add_tool, changes, service
from tradeloop.tools.models import ClosedPosition, PortfolioResult


async def get_portfolio(strategy_id: StrategyId, ctx: Ctx) -> PortfolioResult:
    """A strategy's portfolio: cash, positions (quantity, avg and mark price, unrealized PnL,
    leverage), equity, buying power, realized PnL, fees and its constraints."""
    return views.portfolio(await (await service(ctx)).get_portfolio(strategy_id))


async def close_position(
    strategy_id: StrategyId,
    symbol: Annotated[
        str,
        Field(description="The position's symbol, e.g. BTC-USDT.", min_length=1, max_length=30),
    ],
    ctx: Ctx,
) -> ClosedPosition:
    """Close one open position of a strategy now, with a market order through the same
    guardrails and execution gateway its cycles use."""
    result = await (await service(ctx)).close_position(strategy_id, symbol)
    return views.closed_position(result, symbol)


def register(server: MCPServer) -> None:
    add_tool(
        server, get_portfolio, title="Get a portfolio", annotations=READ_ONLY, meta=LINKED_META
    )
    add_tool(
        server,
        close_position,
        title="Close a position",
        annotations=changes(destructive=True, idempotent=False, open_world=True),
    )
