"""The trade scope is checked where every tool call passes: a read-only principal can call the
read tools (``readOnlyHint: true``) and nothing else, whatever the arguments; the owner, and a
principal with the trade scope, can call everything."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from mcp import Client
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError

from tests.server.stub_service import FailingService, opener
from tradeloop.server.app import build_server
from tradeloop.server.scope_gate import check_tool_scope
from tradeloop.services.principals import ScopeNames
from tradeloop.trading.errors import NotFound

SCOPES = ScopeNames()


@contextmanager
def caller(*scopes: str) -> Iterator[None]:
    """Handle what follows as a request carrying a verified token with ``scopes``."""
    token = AccessToken(token="", client_id="auth0|someone", scopes=list(scopes))
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


@pytest.fixture
def service() -> FailingService:
    return FailingService(NotFound("no strategy with id 's_x'"))


@pytest.fixture
def server(settings, service):
    return build_server(settings, open_service=opener(service))


async def test_read_only_callers_pass_the_gate_exactly_for_tools_marked_read_only(server) -> None:
    tools = await server.list_tools()
    read = {t.name for t in tools if t.annotations and t.annotations.read_only_hint is True}
    assert read and len(read) < len(tools)
    passed = set()
    with caller(SCOPES.read):
        for tool in tools:
            try:
                check_tool_scope(tool, SCOPES)
            except ToolError as exc:
                assert str(exc).startswith(f"{tool.name} changes state and needs the")
            else:
                passed.add(tool.name)
    assert passed == read


async def test_trading_callers_and_the_owner_pass_the_gate_for_every_tool(server) -> None:
    tools = await server.list_tools()
    for tool in tools:
        check_tool_scope(tool, SCOPES)  # no token: the implicit owner
        with caller(SCOPES.read, SCOPES.trade):
            check_tool_scope(tool, SCOPES)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_read_only_caller_is_refused_before_arguments_or_the_service(
    server, service, mode
) -> None:
    with caller(SCOPES.read):
        async with Client(server, mode=mode) as client:
            refused = await client.call_tool("delete_strategy", {"forse": True})
            read = await client.call_tool("get_strategy", {"strategy_id": "s_0123456789abcdef"})
    assert refused.is_error
    text = refused.content[0].text
    assert "delete_strategy changes state and needs the 'tradeloop:trade' scope" in text
    assert "read access only ('tradeloop:read')" in text
    assert "forse" not in text
    assert read.is_error and "no strategy with id" in read.content[0].text  # reached the service
    assert len(service.calls) == 1  # only the read tool reached the service


async def test_a_tool_added_without_annotations_needs_the_trade_scope(server) -> None:
    async def new_tool() -> str:
        return "done"

    server.add_tool(new_tool, name="new_tool")
    with caller(SCOPES.read):
        async with Client(server) as client:
            refused = await client.call_tool("new_tool", {})
    with caller(SCOPES.read, SCOPES.trade):
        async with Client(server) as client:
            allowed = await client.call_tool("new_tool", {})
    assert refused.is_error and "needs the 'tradeloop:trade' scope" in refused.content[0].text
    assert not allowed.is_error
