"""A read-only token refuses every tool that changes state even on the caller's own strategies,
with arguments that would act under a trading token, and changes nothing (the tools come from the
server's list, so one added later is covered)."""

from __future__ import annotations

from typing import Any

from mcp.types import Tool

from tests.server.oauth_issuer import READ, TRADE
from tests.tenancy import surface
from tests.tenancy.world import Holdings, World, session, tool_answer


def _acting_arguments(tool: Tool, own: Holdings) -> dict[str, Any]:
    """Arguments that would act on ``own`` strategies: its first id of each kind, plus what the
    call needs besides."""
    ids = surface.id_arguments(tool.input_schema)
    if not ids:
        return surface.NO_ID_CALLS[tool.name]
    firsts = {name: surface.IDS_BY_ARGUMENT[name](own)[0] for name in ids}
    return firsts | surface.EXTRA_ARGUMENTS.get(tool.name, {})


def test_a_read_only_token_is_refused_every_mutating_tool_on_its_own_strategies(
    world: World,
) -> None:
    who = "alice"
    before = world.snapshot(who), world.call(who, "list_strategies", {})
    mutating = [t for t in world.tools() if not surface.is_read_tool(t)]
    reader = world.portal.wrap_async_context_manager(session(world.served, who, scope=READ))
    with reader as client:
        answers = {
            tool.name: tool_answer(
                world.portal.call(
                    client.call_tool, tool.name, _acting_arguments(tool, world.holdings[who])
                )
            )
            for tool in mutating
        }
    assert {"create_strategy", "run_cycle_now", "delete_strategy"} <= set(answers)
    refused = {
        name: a.is_error and f"{name} changes state and needs the '{TRADE}' scope" in a.text
        for name, a in answers.items()
    }
    assert refused == dict.fromkeys(answers, True), answers
    assert (world.snapshot(who), world.call(who, "list_strategies", {})) == before
