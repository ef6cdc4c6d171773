"""What the foreign-id sweep knows about the server's surface: which arguments carry ids, which of
a principal's ids fit each, and the other arguments that make a call one that would act if the id
were the caller's own. A tool, resource template or prompt with an id argument (or a required
argument) not named here makes ``untaught`` say so, and the sweep fails until it is taught.

An answer to another principal's id must read exactly like the answer to an id that never
existed, of the same shape: ``twin`` makes that id, ``same_answer`` compares the two.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Iterator
from typing import Any

from mcp.types import Tool

from tests.tenancy.world import WINDOW, Answer, Holdings

ID_NAME = re.compile(r"(^|_)ids?$")
"""An argument named ``id``, ``..._id`` or ``..._ids`` carries ids."""

IDS_BY_ARGUMENT: dict[str, Callable[[Holdings], list[str]]] = {
    "strategy_id": lambda h: [h.trading_id, h.idle_id, h.run_id, h.comparison_id],
    "run_id": lambda h: [h.run_id, h.comparison_id],
    "compose_id": lambda h: h.compose_ids,
}
"""Every id of the owner an argument of that name may be given (a comparison id is a strategy
id to get_equity_chart)."""

EXTRA_ARGUMENTS: dict[str, dict[str, Any]] = {
    "close_position": {"symbol": "BTC-USDT"},
    "update_strategy": {"name": "taken-over"},
    "wait_for_change": {"cycles": 0, "timeout_s": 2},
}
"""Besides the id: what makes the call act (close a held symbol, rename, answer at once)."""

NO_ID_CALLS: dict[str, dict[str, Any]] = {
    "list_strategies": {},
    "list_features": {},
    "query_features": {"symbols": ["BTC-USDT"]},
    "create_strategy": {"symbols": ["ETH-USDT"], "initial_capital": 500},
    "run_backtest": {
        "symbols": ["ETH-USDT"],
        "initial_capital": 500,
        "start": WINDOW["start"],
        "end": "2025-01-02",
    },
    "compare_strategies": {
        "strategies": [{"label": "x", "symbols": ["ETH-USDT"]}],
        "start": WINDOW["start"],
        "end": "2025-01-02",
    },
}
"""Tools that take no id: what each is called with to see that its answer holds no one else's."""


def is_read_tool(tool: Tool) -> bool:
    return tool.annotations is not None and tool.annotations.read_only_hint is True


def id_arguments(schema: dict[str, Any]) -> list[str]:
    return [name for name in schema.get("properties", {}) if ID_NAME.search(name)]


def untaught(tool: Tool) -> list[str]:
    """What the sweep does not know about ``tool``: empty when it can call it."""
    schema = tool.input_schema
    ids = id_arguments(schema)
    problems = [f"{tool.name}: nested id argument {n}" for n in _nested_id_names(schema)]
    problems += [f"{tool.name}: id argument {n}" for n in ids if n not in IDS_BY_ARGUMENT]
    if not ids and tool.name not in NO_ID_CALLS:
        problems.append(f"{tool.name}: takes no id and has no NO_ID_CALLS entry")
    known = {*ids, *EXTRA_ARGUMENTS.get(tool.name, {}), *NO_ID_CALLS.get(tool.name, {})}
    problems += [
        f"{tool.name}: required argument {n}" for n in schema.get("required", []) if n not in known
    ]
    return problems


def _nested_id_names(schema: dict[str, Any]) -> list[str]:
    """Id-like property names below the top level (inside items, objects or ``$defs``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                found.extend(name for name in properties if ID_NAME.search(name))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for prop in schema.get("properties", {}).values():
        walk(prop)
    walk(schema.get("$defs", {}))
    return found


def sweep_order(tools: list[Tool]) -> list[Tool]:
    """Read tools first, then the ones that change state, destructive ones last: if a foreign
    id did get through, the reads still see the owner's data before anything is deleted."""

    def rank(tool: Tool) -> int:
        if is_read_tool(tool):
            return 0
        return 2 if tool.annotations and tool.annotations.destructive_hint else 1

    return sorted((t for t in tools if id_arguments(t.input_schema)), key=rank)


def foreign_calls(tool: Tool, owner: Holdings) -> Iterator[tuple[dict[str, Any], str]]:
    """Each call with one of the owner's ids in one id argument (the tool's other id arguments
    hold the owner's first id of their kind)."""
    ids = id_arguments(tool.input_schema)
    firsts = {name: IDS_BY_ARGUMENT[name](owner)[0] for name in ids}
    for name in ids:
        for foreign in IDS_BY_ARGUMENT[name](owner):
            yield firsts | {name: foreign} | EXTRA_ARGUMENTS.get(tool.name, {}), foreign


TEMPLATE_PARAMETER = re.compile(r"\{(\w+)\}")


def template_parameters(uri_template: str) -> list[str]:
    return TEMPLATE_PARAMETER.findall(uri_template)


# --------------------------------------------------------------------------- twins


def twin(value: str) -> str:
    """An id that never existed, of the same shape: the prefix up to the first ``_`` or ``-``
    kept, every later digit or letter replaced by a random one of its class."""
    cut = min((i for i in (value.find("_"), value.find("-")) if i >= 0), default=-1) + 1
    while True:
        made = value[:cut] + "".join(_like(c) for c in value[cut:])
        if made != value:
            return made


def _like(char: str) -> str:
    """A random character of ``char``'s class; digits never 0, so a number stays one of the same
    kind (no leading zero, no ``.0`` that would read as an integer)."""
    if char in string.digits:
        return secrets.choice("123456789")
    for pool in ("abcdef", "ABCDEF", string.ascii_lowercase):
        if char in pool:
            return secrets.choice(pool)
    return char


def twin_arguments(args: Any, values: frozenset[str]) -> tuple[Any, dict[str, str]]:
    """``args`` with every string in ``values`` replaced by its twin; and the twins made."""
    made: dict[str, str] = {}

    def swap(node: Any) -> Any:
        if isinstance(node, str) and node in values:
            return made.setdefault(node, twin(node))
        if isinstance(node, dict):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(item) for item in node]
        return node

    return swap(args), made


def masked(answer: Answer, values: list[str]) -> Answer:
    """``answer`` with each of ``values`` (longest first) replaced by ``<n>``, its position."""
    text = answer.text
    for n, value in sorted(enumerate(values), key=lambda item: -len(item[1])):
        text = text.replace(value, f"<{n}>")
    return Answer(answer.is_error, text)


def same_answer(
    foreign: Answer, unknown: Answer, made: dict[str, str]
) -> tuple[Answer, Answer] | None:
    """None when the two answers read the same once the foreign values and their twins are
    masked; otherwise both masked answers."""
    left, right = masked(foreign, list(made)), masked(unknown, list(made.values()))
    return None if left == right else (left, right)


def leaked(answer: Answer, identifiers: list[str]) -> list[str]:
    """The identifiers of other principals that appear in ``answer``."""
    return [i for i in identifiers if i in answer.text]
