"""The MCP surface of tradeloop: one module per tool group, plus resources and prompts."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer


def register_all(server: MCPServer) -> None:
    from tradeloop.tools import (
        dashboard,
        features,
        history,
        lifecycle,
        portfolio,
        prompts,
        resources,
    )

    for module in (lifecycle, portfolio, history, features, dashboard):
        module.register(server)
    resources.register(server)
    prompts.register(server)
    _register_optional(server)


def _register_optional(server: MCPServer) -> None:
    """Tool groups whose dependencies land separately (backtests, live confirmation)."""
    import importlib

    for name in ("tradeloop.tools.backtest", "tradeloop.tools.compare"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(server)
