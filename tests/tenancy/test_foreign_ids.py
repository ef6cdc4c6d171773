"""Another principal's ids, over every tool, resource template and prompt the server lists: each
answers exactly like an id that never existed (same text once the id is masked, same error flag),
no answer carries anything of another principal, and nothing of the owner changes.

The surface comes from the server's own lists, so a tool added later is swept too, or fails
``test_the_sweep_knows_how_to_call_every_listed_tool`` until ``tests.tenancy.surface`` is taught.
"""

from __future__ import annotations

import json
from itertools import permutations
from typing import Any

import pytest

from tests.tenancy import surface, sweep
from tests.tenancy.world import PRINCIPALS, Answer, World
from tradeloop.services.principals import OWNER_NAME

PAIRS = list(permutations(PRINCIPALS, 2))
"""(caller, owner): every principal against each of the other two."""


def test_the_sweep_knows_how_to_call_every_listed_tool(world: World) -> None:
    problems = [p for tool in world.tools() for p in surface.untaught(tool)]
    assert problems == [], "teach tests/tenancy/surface.py: " + "; ".join(problems)


def test_the_sweep_knows_every_id_parameter_of_resources_and_prompts(world: World) -> None:
    session = world.sessions[PRINCIPALS[0]]
    templates = world.portal.call(session.list_resource_templates).resource_templates
    prompts = world.portal.call(session.list_prompts).prompts
    parameters = {p for t in templates for p in surface.template_parameters(t.uri_template)}
    ids = {a.name for p in prompts for a in p.arguments or [] if surface.ID_NAME.search(a.name)}
    required = {a.name for p in prompts for a in p.arguments or [] if a.required}
    assert parameters and parameters <= set(surface.IDS_BY_ARGUMENT)
    assert ids and ids <= set(surface.IDS_BY_ARGUMENT)
    assert required <= ids


@pytest.mark.parametrize(("viewer", "owner"), PAIRS)
def test_another_principals_ids_answer_every_tool_like_ids_that_never_existed(
    world: World, viewer: str, owner: str
) -> None:
    before = world.snapshot(owner)
    problems = sweep.tool_problems(world, viewer, owner)
    assert problems == [], "\n".join(problems)
    assert world.snapshot(owner) == before


@pytest.mark.parametrize(("viewer", "owner"), PAIRS)
def test_another_principals_ids_read_as_resources_and_prompts_like_ids_that_never_existed(
    world: World, viewer: str, owner: str
) -> None:
    problems = sweep.resource_problems(world, viewer, owner) + sweep.prompt_problems(
        world, viewer, owner
    )
    assert problems == [], "\n".join(problems)


def _own_reads(world: World, viewer: str) -> dict[str, Answer]:
    held = world.holdings[viewer]
    reads: dict[str, tuple[str, dict[str, Any]]] = {
        "digest": ("get_digest", {"strategy_id": held.trading_id}),
        "dashboard": ("get_chart_series", {"strategy_id": held.trading_id}),
        "backtest": ("get_run_series", {"run_id": held.run_id}),
        "comparison": ("get_run_series", {"run_id": held.comparison_id}),
        "cycles": ("list_cycles", {"strategy_id": held.trading_id}),
    }
    return {what: world.call(viewer, tool, args) for what, (tool, args) in reads.items()}


@pytest.mark.parametrize("viewer", PRINCIPALS)
def test_lists_digests_dashboards_and_comparisons_show_a_principal_only_its_own(
    world: World, viewer: str
) -> None:
    answers = {name: world.call(viewer, name, {}) for name in ("list_strategies", "list_features")}
    for method in ("list_resources", "list_resource_templates", "list_prompts"):
        answers[method] = world.listed(viewer, method)
    answers |= _own_reads(world, viewer)
    listed = world.ok(viewer, "list_strategies")["strategies"]
    leaks = {
        name: surface.leaked(answer, world.foreign_identifiers(viewer))
        for name, answer in answers.items()
    }
    assert {name: found for name, found in leaks.items() if found} == {}
    assert {s["strategy_id"] for s in listed} == set(world.holdings[viewer].strategy_ids())
    own_resources = answers["list_resources"].text
    assert all(sid in own_resources for sid in world.holdings[viewer].strategy_ids())
    assert not any(answer.is_error for answer in answers.values())


def test_tools_that_take_no_id_answer_without_anything_of_other_principals(world: World) -> None:
    """Listing, creating, backtesting and comparing as carol mentions nothing of alice's or
    bob's."""
    viewer = PRINCIPALS[-1]
    held = world.holdings[viewer]
    problems = {}
    for tool in world.tools():
        if surface.id_arguments(tool.input_schema):
            continue
        answer = world.ok(viewer, tool.name, **surface.NO_ID_CALLS[tool.name])
        held.created += [answer[key] for key in ("strategy_id", "run_id") if key in answer]
        found = surface.leaked(Answer(False, json.dumps(answer)), world.foreign_identifiers(viewer))
        if found:
            problems[tool.name] = found
    assert problems == {}


def test_the_static_tokens_holder_is_one_principal_and_sees_none_of_the_others(
    world: World,
) -> None:
    """``TRADELOOP_HTTP_TOKEN`` stands for the implicit owner: seeing every strategy takes the
    server-side CLI, never a tool."""
    owner = PRINCIPALS[0]
    problems = sweep.tool_problems(world, OWNER_NAME, owner)
    problems += sweep.resource_problems(world, OWNER_NAME, owner)
    listed = world.call(OWNER_NAME, "list_strategies", {})
    resources = world.listed(OWNER_NAME, "list_resources")
    problems += surface.leaked(listed, world.foreign_identifiers(OWNER_NAME))
    problems += surface.leaked(resources, world.foreign_identifiers(OWNER_NAME))
    assert problems == [], "\n".join(problems)
    assert world.ok(OWNER_NAME, "list_strategies")["strategies"] == []
