"""Property: tool arguments seeded with other principals' identifiers (ids of every kind, names,
distinctive values, in any argument) get exactly the answer that never-existing identifiers of
the same shape get, that answer carries nothing of any other principal, and nobody's strategies
change.

Tools that change state always get foreign ids in their id arguments, so nothing may act; read
tools with more arguments than the id may name the caller's own strategy and carry the foreign
values elsewhere (a cursor, a symbol filter).
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.types import Tool

from tests.hypothesis_budget import examples
from tests.tenancy import surface
from tests.tenancy.world import PRINCIPALS, Holdings, World

EXAMPLES = 80
WORDS = ["BTC-USDT", "ETH-USDT", "1h", "ok", "error", "paused", "rules", "x"]
"""Plain values for string arguments, beside the foreign ones."""
SHORT_WAIT = {"timeout_s": st.floats(0.05, 0.3)}
"""Arguments that bound a wait (wait_for_change): always given, short."""


def _plain(schema: dict[str, Any], defs: dict[str, Any], name: str) -> st.SearchStrategy[Any]:
    """A value of the argument's type (often valid, sometimes not: both must answer alike)."""
    branch = next((b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"), schema)
    if "$ref" in branch:
        branch = defs.get(branch["$ref"].rsplit("/", 1)[-1], {})
    if name in SHORT_WAIT:
        return SHORT_WAIT[name]
    if "enum" in branch:
        return st.sampled_from(branch["enum"])
    kind = branch.get("type")
    if kind == "integer":
        return st.integers(branch.get("minimum", 0), min(branch.get("maximum", 1000), 1000))
    if kind == "number":
        return st.floats(1, 1000)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(st.sampled_from(WORDS), min_size=1, max_size=2)
    if kind == "object":
        return st.just({})
    return st.sampled_from(WORDS)


def _ids(tool: Tool, foreign: st.SearchStrategy[str], own: Holdings) -> st.SearchStrategy[str]:
    """What an id argument gets: always a foreign value for a tool that changes state or that
    takes nothing else; else the caller's own strategy too, so the foreign value sits elsewhere."""
    if not surface.is_read_tool(tool) or len(tool.input_schema["properties"]) == 1:
        return foreign
    return st.one_of(foreign, st.sampled_from([own.trading_id, own.run_id]))


@st.composite
def seeded_call(draw: st.DrawFn, world: World, tools: list[Tool]) -> tuple[str, str, dict]:
    """(caller, tool, arguments) with at least one other principal's identifier in them."""
    viewer, owner = draw(st.sampled_from(list(permutations(PRINCIPALS, 2))))
    tool = draw(st.sampled_from(tools))
    foreign = st.sampled_from(world.holdings[owner].identifiers())
    schema, defs = tool.input_schema, tool.input_schema.get("$defs", {})
    ids = surface.id_arguments(schema)
    args: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if name in ids:
            args[name] = draw(_ids(tool, foreign, world.holdings[viewer]))
        elif name in (*schema.get("required", []), *SHORT_WAIT) or draw(st.booleans()):
            args[name] = draw(st.one_of(foreign, _plain(prop, defs, name)))
    values = set(world.foreign_identifiers(viewer))
    if not any(isinstance(v, str) and v in values for v in args.values()):
        args[ids[0] if ids else draw(st.sampled_from(sorted(schema["properties"])))] = draw(foreign)
    return viewer, tool.name, args


def _seedable(world: World) -> list[Tool]:
    """Tools with id arguments, and read tools with any argument: calls with foreign values act
    on nothing."""
    return [
        tool
        for tool in world.tools()
        if surface.id_arguments(tool.input_schema)
        or (surface.is_read_tool(tool) and tool.input_schema.get("properties"))
    ]


def test_arguments_seeded_with_foreign_identifiers_answer_like_never_existing_ones(
    world: World,
) -> None:
    before = {who: world.snapshot(who) for who in PRINCIPALS}

    @settings(max_examples=examples(EXAMPLES), deadline=None)
    @given(seeded_call(world, _seedable(world)))
    def answers_alike(call: tuple[str, str, dict]) -> None:
        viewer, tool, args = call
        twin_args, made = surface.twin_arguments(args, frozenset(world.foreign_identifiers(viewer)))
        foreign = world.call(viewer, tool, args)
        unknown = world.call(viewer, tool, twin_args)
        assert surface.same_answer(foreign, unknown, made) is None, (tool, args, foreign, unknown)
        shown = surface.masked(foreign, list(made))
        assert surface.leaked(shown, world.foreign_identifiers(viewer)) == [], (tool, args, shown)

    answers_alike()
    assert {who: world.snapshot(who) for who in PRINCIPALS} == before
