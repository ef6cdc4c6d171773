"""An ``MCPServer`` that holds every tool call to its published input schema.

The SDK validates the arguments it knows and silently drops the rest, so a misspelt optional
argument (``max_leverge``) would be ignored without a word. Here, in one place for every tool, an
unknown argument key is a tool error naming it and listing the accepted ones; the published
schemas say ``additionalProperties: false`` to match. Argument validation errors are rewritten to
one clause per argument (``initial_capital: Input should be greater than 0 (got -5)``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.stdio import stdio_server
from mcp.types import CallToolResult, InputRequiredResult
from mcp.types import Tool as MCPTool
from pydantic import ValidationError

from tradeloop.server.scope_gate import check_tool_scope
from tradeloop.services.principals import ScopeNames
from tradeloop.services.scrub import describe_validation_error


class StrictServer(MCPServer[Any]):
    scopes: ScopeNames = ScopeNames()
    """The scope names that grant reading and trading (``scope_gate``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._accepted: dict[str, frozenset[str]] | None = None
        self._tools: dict[str, MCPTool] | None = None

    async def list_tools(self) -> list[MCPTool]:
        tools = await super().list_tools()
        return [
            tool.model_copy(
                update={"input_schema": {**tool.input_schema, "additionalProperties": False}}
            )
            for tool in tools
        ]

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        context: Context[Any, Any] | None = None,
    ) -> CallToolResult | InputRequiredResult:
        tool = (await self._tools_by_name()).get(name)
        if tool is not None:
            check_tool_scope(tool, self.scopes)  # before anything else: no argument feedback
        accepted = (await self._accepted_keys()).get(name)
        if accepted is not None:
            unknown = sorted(set(arguments) - accepted)
            if unknown:
                raise ToolError(_unknown_message(name, unknown, accepted))
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                detail = describe_validation_error(cause)
                raise ToolError(f"invalid arguments for {name}: {detail}") from None
            if isinstance(cause, ToolError):
                raise cause from None  # without the SDK's "Error executing tool ..." prefix
            raise

    async def run_stdio_on(self, lines: AsyncIterator[str]) -> None:
        """``run_stdio_async`` with stdin read from ``lines`` (see ``transports.serve_stdio``)."""
        stdin = cast(anyio.AsyncFile[str], lines)  # the SDK only iterates it
        async with stdio_server(stdin=stdin) as (read_stream, write_stream):
            lowlevel = self._lowlevel_server
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())

    async def _tools_by_name(self) -> dict[str, MCPTool]:
        if self._tools is None:
            self._tools = {tool.name: tool for tool in await super().list_tools()}
        return self._tools

    async def _accepted_keys(self) -> dict[str, frozenset[str]]:
        if self._accepted is None:
            self._accepted = {
                name: frozenset(tool.input_schema.get("properties", {}))
                for name, tool in (await self._tools_by_name()).items()
            }
        return self._accepted


def _unknown_message(tool: str, unknown: list[str], accepted: frozenset[str]) -> str:
    keys = ", ".join(repr(k) for k in unknown)
    allowed = ", ".join(sorted(accepted)) or "no arguments"
    noun = "argument" if len(unknown) == 1 else "arguments"
    return f"{tool} got unknown {noun} {keys}; it accepts: {allowed}. Nothing was changed."
