"""Two principals on one ``tradeloop serve --http`` with OAuth (a local issuer, JWTs made by the
test), through the SDK client: each sees only its own strategies, backtests and cycles, and the
other's ids answer exactly like unknown ids (the answer's text with the id swapped is the same)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.server.oauth_issuer import Issuer, SigningKey, local_issuer
from tests.server.test_http import _free_port, _wait_for_line

KEY = SigningKey.ec("ec-owners")
UNKNOWN_ID = "s_00000000000000ff"
WINDOW = {"start": "2025-01-01", "end": "2025-01-02"}


@dataclass
class Served:
    url: str
    issuer: Issuer

    def bearer(self, subject: str) -> dict[str, str]:
        token = self.issuer.mint(self.issuer.claims(self.url, sub=subject))
        return {"Authorization": f"Bearer {token}"}

    @asynccontextmanager
    async def client(self, subject: str) -> AsyncIterator[Client]:
        headers = self.bearer(subject)
        async with httpx2.AsyncClient(headers=headers) as http:
            transport = streamable_http_client(self.url, http_client=http)
            async with Client(transport, mode="legacy") as client:
                yield client


@pytest.fixture(scope="module")
def served(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with local_issuer(KEY) as issuer:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TRADELOOP_DB": str(tmp_path_factory.mktemp("owners") / "t.db"),
            "TRADELOOP_OAUTH_ISSUER": issuer.url,
        }
        args = ["serve", "--http", "--port", str(port), "--replay", str(shared_data)]
        process = subprocess.Popen(
            [sys.executable, "-m", "tradeloop", *args, "--oauth-resource", url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            with ThreadPoolExecutor(1) as reader:
                ready = reader.submit(_wait_for_line, process, "Uvicorn running on")
                assert ready.result(timeout=60), "the server did not start"
            threading.Thread(target=process.stderr.read, daemon=True).start()
            yield Served(url, issuer)
        finally:
            process.terminate()
            process.wait(timeout=60)


async def call(client: Client, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """(is_error, structured content or the error's text)."""
    answer = await client.call_tool(tool, arguments)
    if answer.is_error:
        return True, " ".join(getattr(block, "text", "") for block in answer.content)
    return False, answer.structured_content


async def ok(client: Client, tool: str, **arguments: Any) -> Any:
    failed, content = await call(client, tool, **arguments)
    assert not failed, content
    return content


async def create(client: Client, name: str) -> str:
    made = await ok(
        client, "create_strategy", symbols=["BTC-USDT"], initial_capital=1000, name=name
    )
    return str(made["strategy_id"])


async def test_each_principal_lists_only_its_own_strategies_and_may_reuse_a_name(served) -> None:
    async with served.client("alice-list") as alice, served.client("bob-list") as bob:
        mine = await create(alice, "btc")
        theirs = await create(bob, "btc")  # a name another principal uses is free
        listed_a = await ok(alice, "list_strategies")
        listed_b = await ok(bob, "list_strategies")
        listed = (await alice.list_resources()).resources
        resources_a = [str(r.uri) for r in listed if str(r.uri).startswith("tradeloop://")]
    assert [s["strategy_id"] for s in listed_a["strategies"]] == [mine]
    assert [s["strategy_id"] for s in listed_b["strategies"]] == [theirs]
    assert len(resources_a) == 3 and all(mine in uri for uri in resources_a)


FOREIGN_CALLS = [
    ("get_strategy", {}),
    ("get_portfolio", {}),
    ("get_digest", {}),
    ("list_trades", {}),
    ("list_cycles", {}),
    ("pause_strategy", {}),
    ("resume_strategy", {}),
    ("stop_strategy", {}),
    ("start_strategy", {}),
    ("update_strategy", {"decide_interval": 600}),
    ("delete_strategy", {}),
    ("run_cycle_now", {}),
    ("preview_decision", {}),
    ("close_position", {"symbol": "BTC-USDT"}),
    ("get_equity_chart", {}),
    ("get_chart_series", {}),
]


async def test_another_principals_strategy_answers_every_call_like_an_unknown_id(served) -> None:
    async with served.client("alice-ids") as alice, served.client("bob-ids") as bob:
        theirs = await create(bob, "bob's")
        await ok(bob, "run_cycle_now", strategy_id=theirs)
        for tool, extra in FOREIGN_CALLS:
            foreign = await call(alice, tool, strategy_id=theirs, **extra)
            unknown = await call(alice, tool, strategy_id=UNKNOWN_ID, **extra)
            assert foreign[0] and unknown[0], (tool, foreign, unknown)
            assert foreign[1].replace(theirs, UNKNOWN_ID) == unknown[1], tool
        still = await ok(bob, "get_strategy", strategy_id=theirs)  # nothing happened to it
    assert still["status"] == "created" and still["config"]["decide_interval"] != 600


async def test_another_principals_cycle_answers_like_an_unknown_compose_id(served) -> None:
    async with served.client("alice-cycles") as alice, served.client("bob-cycles") as bob:
        theirs = await create(bob, "cycles")
        compose_id = (await ok(bob, "run_cycle_now", strategy_id=theirs))["compose_id"]
        unknown_id = "c_" + "0" * 32
        foreign = await call(alice, "get_cycle", compose_id=compose_id)
        unknown = await call(alice, "get_cycle", compose_id=unknown_id)
        own = await call(bob, "get_cycle", compose_id=compose_id)
    assert foreign[0] and unknown[0] and not own[0]
    assert foreign[1].replace(compose_id, unknown_id) == unknown[1]


async def test_a_backtest_is_its_runners_only(served) -> None:
    async with served.client("alice-bt") as alice, served.client("bob-bt") as bob:
        run = await ok(bob, "run_backtest", symbols=["BTC-USDT"], initial_capital=1000, **WINDOW)
        run_id = run["run_id"]
        unknown_id = "bt_" + "0" * 16
        listed_a = await ok(alice, "list_strategies")
        listed_b = await ok(bob, "list_strategies")
        answers = {}
        for tool, argument in (
            ("get_strategy", "strategy_id"),
            ("list_trades", "strategy_id"),
            ("get_equity_chart", "strategy_id"),
            ("get_run_series", "run_id"),
        ):
            foreign = await call(alice, tool, **{argument: run_id})
            unknown = await call(alice, tool, **{argument: unknown_id})
            answers[tool] = (foreign, unknown)
        own_series = await call(bob, "get_run_series", run_id=run_id)
    assert run_id not in json.dumps(listed_a)
    assert run_id in json.dumps(listed_b)
    for tool, (foreign, unknown) in answers.items():
        assert foreign[0] and unknown[0], (tool, foreign, unknown)
        assert foreign[1].replace(run_id, unknown_id) == unknown[1], tool
    assert not own_series[0]


async def test_the_dashboards_event_stream_carries_the_callers_strategies_only(served) -> None:
    events_url = served.url.replace("/mcp", "/dashboard/events")
    async with served.client("alice-sse") as alice, served.client("bob-sse") as bob:
        mine, theirs = await create(alice, "sse"), await create(bob, "sse")
        seen: list[str] = []
        async with httpx2.AsyncClient(headers=served.bearer("alice-sse"), timeout=30) as http:
            async with http.stream("GET", events_url) as stream:
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith("retry:")  # subscribed
                await ok(bob, "run_cycle_now", strategy_id=theirs)  # first: alice must not hear it
                await ok(alice, "run_cycle_now", strategy_id=mine)
                async with asyncio.timeout(30):
                    async for line in lines:
                        if line.startswith("data: "):
                            seen.append(json.loads(line.removeprefix("data: "))["strategy_id"])
                            if seen[-1] == mine:
                                break
    assert seen and set(seen) == {mine}


async def test_a_comparison_is_its_runners_only(served) -> None:
    async with served.client("alice-cmp") as alice, served.client("bob-cmp") as bob:
        done = await ok(
            bob,
            "compare_strategies",
            strategies=[{"label": "rsi", "symbols": ["BTC-USDT"]}],
            **WINDOW,
        )
        comparison_id, unknown_id = done["comparison_id"], "cmp_" + "0" * 16
        answers = {
            (tool, argument): (
                await call(alice, tool, **{argument: comparison_id}),
                await call(alice, tool, **{argument: unknown_id}),
            )
            for tool, argument in (
                ("get_equity_chart", "strategy_id"),
                ("get_run_series", "run_id"),
            )
        }
        own = await call(bob, "get_run_series", run_id=comparison_id)
    for tool, (foreign, unknown) in answers.items():
        assert foreign[0] and unknown[0], (tool, foreign, unknown)
        assert foreign[1].replace(comparison_id, unknown_id) == unknown[1], tool
    assert not own[0]
