"""The MCP surface of tradeloop: one module per tool group, plus resources and prompts."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from tradeloop.tools import (
    backtest,
    compare,
    dashboard,
    features,
    history,
    lifecycle,
    portfolio,
    prompts,
    resources,
)


def register_all(server: MCPServer) -> None:
    for module in (lifecycle, portfolio, history, features, dashboard):
        module.register(server)
    resources.register(server)
    prompts.register(server)
    backtest.register(server)
    compare.register(server)
