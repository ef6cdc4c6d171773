"""Only a principal with the trade scope may call a tool that changes anything.

Enforced once, where every tool call passes (``StrictServer.call_tool``): a tool is a read tool
only if it is annotated ``readOnlyHint: true``; every other tool, including one added later
without annotations, needs the trade scope. Live trading additionally needs the operator's gate.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Tool

from tradeloop.services.principals import ScopeNames, current_principal


def is_read_tool(tool: Tool) -> bool:
    return tool.annotations is not None and tool.annotations.read_only_hint is True


def check_tool_scope(tool: Tool, scopes: ScopeNames) -> None:
    """Raise a tool error naming the missing scope when the caller may not call ``tool``."""
    if is_read_tool(tool):
        return
    principal = current_principal(scopes)
    if not principal.can_trade:
        raise ToolError(
            f"{tool.name} changes state and needs the '{scopes.trade}' scope; this token has "
            f"read access only ('{scopes.read}'). Ask the server's operator or your identity "
            "provider for the trade scope. Nothing was changed."
        )
