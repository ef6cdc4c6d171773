"""The change feeds tell a principal about its own strategies only: the dashboard tool
``wait_for_change`` and the page's event stream ``/dashboard/events``, while another principal's
strategy stores cycles at the same time."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2

from tests.tenancy import surface
from tests.tenancy.world import Answer, World, tool_answer

ROUNDS = 20
ROUND_S = 0.5
"""Each round the owner, then the viewer, run a cycle; the viewer's feed must answer within the
rounds (it sees its own cycle), and name only the viewer's strategy."""


def _fresh_strategies(world: World, *principals: str) -> dict[str, str]:
    """A new strategy for each principal (the feeds' cycles leave the others' untouched)."""
    made = {}
    for who in principals:
        sid = world.ok(who, "create_strategy", symbols=["BTC-USDT"], initial_capital=1000)[
            "strategy_id"
        ]
        world.holdings[who].created.append(sid)
        made[who] = sid
    return made


async def _cycle_until(world: World, done: anyio.Event, cycling: dict[str, str]) -> None:
    """Run a cycle of each strategy in ``cycling`` (in order) per round until ``done``."""
    for _ in range(ROUNDS):
        for who, sid in cycling.items():
            result = await world.sessions[who].call_tool("run_cycle_now", {"strategy_id": sid})
            assert not result.is_error, tool_answer(result).text
        with anyio.move_on_after(ROUND_S):
            await done.wait()
        if done.is_set():
            return


async def _wait_for_change(world: World, viewer: str, cycling: dict[str, str]) -> Answer:
    answers: list[Answer] = []
    done = anyio.Event()

    async def wait() -> None:
        result = await world.sessions[viewer].call_tool("wait_for_change", {"timeout_s": 30})
        answers.append(tool_answer(result))
        done.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(wait)
        await _cycle_until(world, done, cycling)
    return answers[0]


async def _dashboard_events(world: World, viewer: str, cycling: dict[str, str]) -> list[dict]:
    """The ``strategy`` events the viewer's stream carries until one names the viewer's own."""
    events: list[dict[str, Any]] = []
    connected, done = anyio.Event(), anyio.Event()
    token = world.served.bearer(viewer)
    url = f"{world.served.base_url}/dashboard/events"

    async def read() -> None:
        async with httpx2.AsyncClient(timeout=30) as http:
            headers = {"Authorization": f"Bearer {token}"}
            async with http.stream("GET", url, headers=headers) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    connected.set()
                    if line.startswith("data: "):
                        events.append(json.loads(line.removeprefix("data: ")))
                        if events[-1]["strategy_id"] == cycling[viewer]:
                            done.set()
                            return

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read)
        with anyio.fail_after(30):
            await connected.wait()
        await _cycle_until(world, done, cycling)
        tasks.cancel_scope.cancel()
    return events


def test_wait_for_change_wakes_for_the_callers_own_strategy_only(world: World) -> None:
    viewer, owner = "bob", "alice"
    cycling = _fresh_strategies(world, owner, viewer)
    answer = world.portal.call(_wait_for_change, world, viewer, cycling)
    assert not answer.is_error, answer.text
    assert surface.leaked(answer, world.foreign_identifiers(viewer) + [cycling[owner]]) == []
    assert cycling[viewer] in answer.text


def test_the_dashboard_event_stream_carries_the_callers_own_strategies_only(world: World) -> None:
    viewer, owner = "carol", "bob"
    cycling = _fresh_strategies(world, owner, viewer)
    events = world.portal.call(_dashboard_events, world, viewer, cycling)
    assert [e["strategy_id"] for e in events][-1:] == [cycling[viewer]]
    assert {e["strategy_id"] for e in events} == {cycling[viewer]}
