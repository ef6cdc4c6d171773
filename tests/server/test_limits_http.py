"""Per-principal limits on a running ``tradeloop serve --http`` with OAuth (a local issuer, JWTs
made by the test), through the SDK client: the operator sets them with ``tradeloop limits`` while
the server runs, and each principal's tool calls are held to its own, from the next call on."""

from __future__ import annotations

import asyncio
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
from tradeloop.cli import main

KEY = SigningKey.ec("ec-limits")


@dataclass
class Served:
    url: str
    issuer: Issuer
    db: Path

    @asynccontextmanager
    async def client(self, subject: str) -> AsyncIterator[Client]:
        token = self.issuer.mint(self.issuer.claims(self.url, sub=subject))
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers) as http:
            transport = streamable_http_client(self.url, http_client=http)
            async with Client(transport, mode="legacy") as client:
                yield client

    async def limits(self, *argv: str) -> None:
        """``tradeloop limits ...`` as the operator runs it beside the server."""
        code = await asyncio.to_thread(main, ["limits", *argv, "--db", str(self.db)])
        assert code == 0


@pytest.fixture(scope="module")
def served(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    db = tmp_path_factory.mktemp("limits") / "t.db"
    with local_issuer(KEY) as issuer:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TRADELOOP_DB": str(db),
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
            yield Served(url, issuer, db)
        finally:
            process.terminate()
            process.wait(timeout=60)


async def create(client: Client, **arguments: Any) -> tuple[bool, Any]:
    """(is_error, the new strategy's id or the error's text)."""
    answer = await client.call_tool(
        "create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 1000, **arguments}
    )
    if answer.is_error:
        return True, " ".join(getattr(block, "text", "") for block in answer.content)
    return False, answer.structured_content["strategy_id"]


async def test_each_principal_creates_up_to_its_own_limit_and_the_next_is_refused(served) -> None:
    await served.limits("set", "alice-n", "--max-strategies", "2")
    await served.limits("set", "bob-n", "--max-strategies", "1")
    async with served.client("alice-n") as alice, served.client("bob-n") as bob:
        assert not (await create(alice))[0]
        assert not (await create(bob))[0]
        assert not (await create(alice))[0]  # exactly at alice's limit
        alice_over, bob_over = await create(alice), await create(bob)
        listed = await alice.call_tool("list_strategies", {})
    assert alice_over == (
        True,
        "limit max_strategies 2 reached: you already have 2 strategies (stopped ones count, "
        "stored backtests do not; delete_strategy frees a place)",
    )
    assert (
        bob_over[0]
        and "limit max_strategies 1 reached: you already have 1 strategy" in (bob_over[1])
    )
    assert len(listed.structured_content["strategies"]) == 2


async def test_a_venue_the_operator_did_not_allow_is_refused_naming_the_allowed_ones(
    served,
) -> None:
    await served.limits("set", "carol-v", "--venues", "binance")
    async with served.client("carol-v") as carol:
        refused = await create(carol, exchange="okx")
        allowed = await create(carol, exchange="binance")
    assert refused == (
        True,
        "limit allowed_venues refuses exchange_id 'okx': allowed venues are binance",
    )
    assert not allowed[0], allowed


async def test_a_limit_lowered_while_the_server_runs_holds_from_the_next_call(served) -> None:
    async with served.client("dave-s") as dave:
        first, second = (await create(dave))[1], (await create(dave))[1]
        await served.limits("set", "dave-s", "--max-strategies", "1")
        refused = await dave.call_tool("start_strategy", {"strategy_id": first})
        await dave.call_tool("stop_strategy", {"strategy_id": second})
        await dave.call_tool("delete_strategy", {"strategy_id": second})
        started = await dave.call_tool("start_strategy", {"strategy_id": first})
        await dave.call_tool("stop_strategy", {"strategy_id": first})
    assert refused.is_error
    assert "limit max_strategies 1 exceeded: you have 2 strategies, this one included" in (
        refused.content[0].text  # type: ignore[union-attr]
    )
    assert not started.is_error, started.content


async def test_concurrent_creates_never_pass_a_limit_of_one(served) -> None:
    await served.limits("set", "erin-r", "--max-strategies", "1")
    async with served.client("erin-r") as erin:
        answers = await asyncio.gather(*(create(erin, name=f"race-{n}") for n in range(5)))
        listed = await erin.call_tool("list_strategies", {})
    assert sorted(failed for failed, _ in answers) == [False, True, True, True, True]
    assert len(listed.structured_content["strategies"]) == 1
