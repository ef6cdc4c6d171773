"""What every tool module shares: the registration helper, annotations and argument types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from tradeloop.services.app_state import AppState
from tradeloop.services.principals import Principal, ScopeNames, current_principal
from tradeloop.tools.errors import tool_boundary

if TYPE_CHECKING:
    from tradeloop.services.owned import OwnedStrategies

Ctx = Context[AppState, Any]

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
"""Reads stored state only."""

READ_ONLY_MARKET = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
"""Reads market data from a venue (or the replay files); changes nothing."""


def changes(*, destructive: bool, idempotent: bool, open_world: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


def add_tool(
    server: MCPServer,
    fn: Callable[..., Awaitable[Any]],
    *,
    title: str,
    annotations: ToolAnnotations,
    structured_output: bool | None = True,
    meta: dict[str, Any] | None = None,
) -> None:
    """Register ``fn`` behind the tool boundary, with its title and honest annotations.

    Results are structured (a pydantic model: output schema and structured content) unless
    ``structured_output`` is None (images). ``meta`` is the tool's ``_meta`` (the dashboard link).
    """
    server.add_tool(
        tool_boundary(fn),
        name=fn.__name__,
        title=title,
        annotations=annotations.model_copy(update={"title": title}),
        structured_output=structured_output,
        meta=meta,
    )


def state(ctx: Ctx) -> AppState:
    return ctx.request_context.lifespan_context


def principal(ctx: Ctx) -> Principal:
    """The caller of this request (the implicit owner on stdio and loopback without auth)."""
    return current_principal(ScopeNames.of(state(ctx).settings))


async def service(ctx: Ctx) -> OwnedStrategies:
    """The strategy service as the caller sees it: its own strategies only."""
    return await state(ctx).owned(principal(ctx))


StrategyId = Annotated[
    str,
    Field(
        description="Id of the strategy (s_ followed by 16 hex digits); list_strategies shows them.",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
    ),
]

Cursor = Annotated[
    str | None,
    Field(
        description="Opaque cursor from the previous page's next_cursor; omit for the first page.",
        max_length=200,
    ),
]

PageLimit = Annotated[
    int, Field(description="Maximum number of items on this page (1-500).", ge=1, le=500)
]
