"""Property: malformed arguments never crash the server and never change the database.

Every generated call carries at least one definite mistake (an unknown key, a value of the wrong
type, a missing required argument, a value outside its constraints, an unknown id, or a status
transition the strategy does not allow), mostly on top of otherwise valid arguments that name real
strategies, so that a destructive tool would do damage if the mistake slipped through.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client, MCPError

from tests.tools.conftest import flip_service
from tradeloop.server.app import build_server
from tradeloop.settings import Settings

EXAMPLES = 1200
UNKNOWN_ID = "s_00000000deadbeef"
WRONG_TYPE: dict[str, list[Any]] = {  # values a field of each JSON type rejects, even in lax mode
    "integer": ["abc", [1], {"a": 1}, 1.5, "1.5"],
    "number": ["abc", [1.0], {"a": 1}, "1,5"],
    "string": [1, 2.5, [], {"a": "b"}, True],
    "boolean": ["maybe", 2, [], {}, 1.5],
    "array": [1, {"a": 1}, "abc", True],
    "object": [1, "abc", [1], True],
}


@dataclass
class World:
    portal: BlockingPortal
    client: Client
    db: Path
    tools: dict[str, dict[str, Any]]
    ids: dict[str, str]
    """status -> id of a strategy in that status (created, paused, stopped)."""
    compose_id: str

    def call(self, tool: str, args: dict[str, Any]) -> str:
        """'tool error', 'protocol error' or 'accepted'."""
        try:
            result = self.portal.call(self.client.call_tool, tool, args)
        except MCPError:
            return "protocol error"
        return "tool error" if result.is_error else "accepted"

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in (self.db, self.db.with_name(self.db.name + "-wal")):
            digest.update(path.read_bytes() if path.exists() else b"")
        return digest.hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data) -> Iterator[World]:
    db = tmp_path_factory.mktemp("malformed") / "tradeloop.db"
    server = build_server(Settings(db_path=db, replay_dir=shared_data), open_service=flip_service)
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(Client(server)) as client:
            tools = {t.name: t.input_schema for t in portal.call(client.list_tools).tools}
            world = World(portal, client, db, tools, {}, "")
            world.ids, world.compose_id = _populate(world)
            yield world


def _populate(world: World) -> tuple[dict[str, str], str]:
    def ok(tool: str, **args: Any) -> dict[str, Any]:
        result = world.portal.call(world.client.call_tool, tool, args)
        assert not result.is_error, result.content[0].text
        return result.structured_content

    def new(name: str) -> str:
        created = ok(
            "create_strategy", symbols=["BTC-USDT", "ETH-USDT"], initial_capital=1000, name=name
        )
        return created["strategy_id"]

    ids = {"created": new("created"), "paused": new("paused"), "stopped": new("stopped")}
    compose_id = ok("run_cycle_now", strategy_id=ids["paused"])["compose_id"]
    ok("start_strategy", strategy_id=ids["paused"])
    ok("pause_strategy", strategy_id=ids["paused"])
    ok("run_cycle_now", strategy_id=ids["stopped"])
    ok("stop_strategy", strategy_id=ids["stopped"])
    return ids, compose_id


# --------------------------------------------------------------------------- generators


def _types(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    """The JSON types a property accepts, and its first non-null branch (constraints live there)."""
    branches = schema.get("anyOf", [schema])
    types: set[str] = set()
    main: dict[str, Any] = {}
    for branch in branches:
        if "$ref" in branch:
            branch = defs[branch["$ref"].rsplit("/", 1)[-1]]
        kind = branch.get("type")
        if kind == "null":
            continue
        types.add(kind)
        main = main or branch
    return types, main


def _wrong_type(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    accepted, _ = _types(schema, defs)
    pools = [WRONG_TYPE[kind] for kind in sorted(accepted)]
    return st.sampled_from([v for v in pools[0] if all(v in pool for pool in pools)])


def _out_of_range(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any] | None:
    _, main = _types(schema, defs)
    options: list[Any] = []
    if "enum" in main:
        options.append(st.text(max_size=12).filter(lambda s: s not in main["enum"]))
    if "exclusiveMinimum" in main:
        options.append(st.just(main["exclusiveMinimum"]))
        options.append(st.just(main["exclusiveMinimum"] - 7))
    if "minimum" in main:
        options.append(st.just(main["minimum"] - 1))
    if "maximum" in main:
        options.append(st.just(main["maximum"] + 1))
    if main.get("minLength", 0) > 0:
        options.append(st.just(""))
    if "maxLength" in main:
        options.append(st.just("x" * (main["maxLength"] + 1)))
    if "pattern" in main:
        pattern = re.compile(main["pattern"])
        options.append(st.text(min_size=1, max_size=20).filter(lambda s: not pattern.search(s)))
    if main.get("minItems", 0) > 0:
        options.append(st.just([]))
    if "maxItems" in main:
        options.append(st.just(["BTC-USDT"] * (main["maxItems"] + 1)))
    if main.get("type") == "array" and "items" in main:
        inner = _out_of_range(main["items"], defs)
        if inner is not None:
            options.append(st.lists(inner, min_size=1, max_size=2))
    return st.one_of(options) if options else None


def _base(world: World, tool: str, draw: Any) -> dict[str, Any]:
    """Valid-looking arguments naming real strategies, for the mistakes to be added to."""
    sid = draw(st.sampled_from(sorted(world.ids.values())))
    return {
        "create_strategy": {"symbols": ["BTC-USDT"], "initial_capital": 1000},
        "run_backtest": {"symbols": ["BTC-USDT"], "initial_capital": 1000, "end": "2025-01-02"},
        "compare_strategies": {
            "strategies": [{"label": "a", "symbols": ["BTC-USDT"]}],
            "end": "2025-01-02",
        },
        "get_cycle": {"compose_id": world.compose_id},
        "get_run_series": {"run_id": "bt_0000"},
        "close_position": {"strategy_id": sid, "symbol": "BTC-USDT"},
        "query_features": {"symbols": ["BTC-USDT"]},
        "list_strategies": {},
        "list_features": {},
    }.get(tool, {"strategy_id": sid})


SEMANTIC: dict[str, list[dict[str, Any]]] = {
    "create_strategy": [
        {"symbols": ["ZZZ-USDT"], "initial_capital": 100},
        {"symbols": ["BTC-USDT"], "initial_capital": 100, "trading_mode": "live"},
        {"symbols": ["BTC-USDT"], "initial_capital": 100, "max_leverage": 2},
        {"symbols": ["BTC-USDT"], "initial_capital": 100, "feature_intervals": ["1m"]},
        {"symbols": ["BTC-USDT", "BTCUSDT"], "initial_capital": 100},
        {"symbols": ["BTC-USDT"], "initial_capital": 100, "name": "created"},
    ],
    "run_backtest": [
        {"symbols": ["BTC-USDT"], "initial_capital": 100, "composer": "llm"},
        {"symbols": ["BTC-USDT"], "initial_capital": 100, "start": "someday"},
        {
            "symbols": ["BTC-USDT"],
            "initial_capital": 100,
            "start": "2025-02-01",
            "end": "2025-01-01",
        },
        {"symbols": ["ZZZ-USDT"], "initial_capital": 100},
    ],
    "get_equity_chart": [{"strategy_id": "bt_0000"}, {"strategy_id": UNKNOWN_ID}],
    "get_run_series": [{"run_id": "cmp_0000"}, {"run_id": UNKNOWN_ID}],
    "wait_for_change": [{"strategy_id": UNKNOWN_ID, "cycles": 0}],
    "query_features": [{"symbols": ["ZZZ-USDT"]}, {"symbols": ["BTC-USDT"], "interval": "1m"}],
    "get_cycle": [{"compose_id": "c_0000"}],
    "list_trades": [{"strategy_id": "{created}", "cursor": "not-a-cursor"}],
    "list_cycles": [{"strategy_id": "{paused}", "cursor": "-1"}],
    "update_strategy": [{"strategy_id": "{created}"}, {"strategy_id": UNKNOWN_ID, "name": "x"}],
    "start_strategy": [{"strategy_id": "{paused}"}],
    "pause_strategy": [{"strategy_id": "{created}"}, {"strategy_id": "{paused}"}],
    "resume_strategy": [{"strategy_id": "{created}"}, {"strategy_id": "{stopped}"}],
    "stop_strategy": [
        {"strategy_id": "{stopped}"},
        {"strategy_id": "{stopped}", "close_positions": True},
    ],
    "delete_strategy": [{"strategy_id": "{created}"}, {"strategy_id": "{paused}"}],
    "run_cycle_now": [{"strategy_id": "{stopped}"}],
    "close_position": [
        {"strategy_id": "{created}", "symbol": "BTC-USDT"},
        {"strategy_id": "{paused}", "symbol": "SOL-USDT"},
        {"strategy_id": "{paused}", "symbol": "not a symbol"},
    ],
}


@st.composite
def malformed_call(draw: Any, world: World) -> tuple[str, dict[str, Any]]:
    if draw(st.integers(0, 49)) == 0:
        name = draw(st.text(min_size=1, max_size=20).filter(lambda n: n not in world.tools))
        return name, {}
    tool = draw(st.sampled_from(sorted(world.tools)))
    schema = world.tools[tool]
    props: dict[str, Any] = schema.get("properties", {})
    defs: dict[str, Any] = schema.get("$defs", {})
    args = dict(_base(world, tool, draw))
    kinds = ["unknown_key"]
    if props:
        kinds += ["wrong_type", "out_of_range"]
    if schema.get("required"):
        kinds.append("missing")
    if tool in SEMANTIC:
        kinds.append("semantic")
    kind = draw(st.sampled_from(kinds))
    event(kind)
    if kind == "unknown_key":
        key = draw(st.text(min_size=1, max_size=15).filter(lambda k: k not in props))
        args[key] = draw(st.sampled_from([1, "x", None, True, [], {"a": 1}]))
    elif kind == "wrong_type":
        key = draw(st.sampled_from(sorted(props)))
        args[key] = draw(_wrong_type(props[key], defs))
    elif kind == "missing":
        del args[draw(st.sampled_from(sorted(schema["required"])))]
    elif kind == "out_of_range":
        ranges = {k: _out_of_range(props[k], defs) for k in sorted(props)}
        constrained = {k: s for k, s in ranges.items() if s is not None}
        if not constrained:
            args["not_an_argument"] = 1
        else:
            key = draw(st.sampled_from(sorted(constrained)))
            args[key] = draw(constrained[key])
    else:
        template = draw(st.sampled_from(SEMANTIC[tool]))
        args = {k: v.format(**world.ids) if isinstance(v, str) else v for k, v in template.items()}
    return tool, args


# --------------------------------------------------------------------------- the property


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_malformed_arguments_are_rejected_and_leave_the_database_untouched(world, data) -> None:
    tool, args = data.draw(malformed_call(world), label="call")
    before = world.fingerprint()
    outcome = world.call(tool, args)
    event(outcome)
    assert outcome in ("tool error", "protocol error"), (tool, args)
    assert world.fingerprint() == before, (tool, args)


def test_the_server_still_answers_after_the_malformed_calls(world) -> None:
    assert world.call("list_strategies", {}) == "accepted"
    assert world.call("get_strategy", {"strategy_id": world.ids["paused"]}) == "accepted"
