"""A real ``tradeloop serve --http --tokens FILE`` with tokens made by ``tradeloop tokens add``:
each token lets the SDK client in, a revoke counts from the next request without a restart, a
read-only token cannot trade, and no token ever reaches the server's log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from tests.server.test_http import HEADERS, INITIALIZE, _free_port, _wait_for_line

REPO = Path(__file__).resolve().parents[2]
NAMES = {"alice": [], "bob": [], "carol": [], "viewer": ["--read-only"]}


def tradeloop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    return subprocess.run(
        [sys.executable, "-m", "tradeloop", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


@dataclass
class Served:
    url: str
    file: Path
    tokens: dict[str, str]
    log: list[str]

    def client(self, name: str) -> Client:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {self.tokens[name]}"})
        return Client(streamable_http_client(self.url, http_client=http), mode="legacy")

    async def initialize(self, token: str | None) -> int:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient() as http:
            response = await http.post(self.url, json=INITIALIZE, headers=HEADERS | auth)
        return response.status_code

    def wait_for_log(self, text: str, count: int = 1) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(text in line for line in self.log) >= count:
                return True
            time.sleep(0.05)
        return False


@pytest.fixture(scope="module")
def served(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("tokens")
    file = folder / "tokens.json"
    tokens = {}
    for name, flags in NAMES.items():
        added = tradeloop("tokens", "add", name, *flags, "--file", str(file))
        assert added.returncode == 0, added.stderr
        tokens[name] = added.stdout.strip()
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADELOOP_DB": str(folder / "t.db")}
    args = ["serve", "--http", "--port", str(port), "--replay", str(shared_data)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeloop", *args, "--tokens", str(file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    try:
        with ThreadPoolExecutor(1) as reader:
            ready = reader.submit(_wait_for_line, process, "Uvicorn running on")
            assert ready.result(timeout=60), "the server did not start"
        threading.Thread(target=lambda: log.extend(process.stderr), daemon=True).start()
        yield Served(f"http://127.0.0.1:{port}/mcp", file, tokens, log)
    finally:
        process.terminate()
        process.wait(timeout=60)


def text(answer: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in answer.content)


async def test_the_sdk_client_with_a_bearer_token_sees_only_its_principals_strategies(
    served,
) -> None:
    """Issue 15's done-means: alice's strategy is invisible to bob, and its id answers bob exactly
    as an id nobody has."""
    nobody = "s_00000000000000ff"
    async with served.client("alice") as alice:
        created = await alice.call_tool(
            "create_strategy", {"symbols": ["ETH-USDT"], "initial_capital": 500, "name": "alice's"}
        )
        sid = created.structured_content["strategy_id"]
        alice_sees = await alice.call_tool("list_strategies", {})
        alice_gets = await alice.call_tool("get_strategy", {"strategy_id": sid})
    async with served.client("bob") as bob:
        bob_sees = await bob.call_tool("list_strategies", {})
        foreign = await bob.call_tool("get_strategy", {"strategy_id": sid})
        unknown = await bob.call_tool("get_strategy", {"strategy_id": nobody})
    assert sid in json.dumps(alice_sees.structured_content)
    assert not alice_gets.is_error
    assert sid not in json.dumps(bob_sees.structured_content)
    assert "alice's" not in json.dumps(bob_sees.structured_content)
    assert foreign.is_error and unknown.is_error
    assert text(foreign).replace(sid, "ID") == text(unknown).replace(nobody, "ID")


async def test_a_token_from_the_file_lets_the_sdk_client_in_and_trade(served) -> None:
    async with served.client("alice") as client:
        tools = await client.list_tools()
        created = await client.call_tool(
            "create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 1000}
        )
    assert "create_strategy" in {tool.name for tool in tools.tools}
    assert not created.is_error, created.content


@pytest.mark.parametrize("kind", ["no token", "unknown", "one character off"])
async def test_a_request_without_a_token_of_the_file_gets_401(served, kind) -> None:
    alice = served.tokens["alice"]
    token = {
        "no token": None,
        "unknown": "tlk_" + "A" * 43,
        "one character off": alice[:-1] + ("A" if alice[-1] != "A" else "B"),
    }[kind]
    assert await served.initialize(token) == 401


async def test_a_token_revoked_while_the_server_runs_gets_401_at_the_next_request(served) -> None:
    before = await served.initialize(served.tokens["carol"])
    revoked = tradeloop("tokens", "revoke", "carol", "--file", str(served.file))
    assert revoked.returncode == 0, revoked.stderr
    after = await served.initialize(served.tokens["carol"])
    assert (before, after) == (200, 401)
    assert await served.initialize(served.tokens["bob"]) == 200


async def test_a_read_only_token_can_read_but_not_create(served) -> None:
    async with served.client("viewer") as client:
        created = await client.call_tool(
            "create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 1000}
        )
        listed = await client.call_tool("list_strategies", {})
    assert created.is_error
    assert "create_strategy changes state and needs the 'tradeloop:trade' scope" in text(created)
    assert not listed.is_error


async def test_the_server_log_never_shows_a_token(served) -> None:
    for token in served.tokens.values():
        await served.initialize(token)
        await served.initialize(token + "x")
    assert served.wait_for_log('"POST /mcp HTTP/1.1" 401', count=len(served.tokens))
    log = "".join(served.log)
    for name, token in served.tokens.items():
        assert token not in log, name
        assert token.removeprefix("tlk_") not in log, name


@pytest.mark.parametrize("given", ["--tokens PATH", "--tokens", "TRADELOOP_TOKENS_FILE"])
def test_serve_with_a_missing_tokens_file_names_it_and_counts_it_as_authentication(
    tmp_path, given
) -> None:
    """On 0.0.0.0 the refusal is about the file, not about a missing token; ``--tokens`` alone
    means the file beside the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    env["TRADELOOP_DB"] = str(tmp_path / "data" / "t.db")
    path = tmp_path / "data" / "tokens.json" if given == "--tokens" else tmp_path / "given.json"
    tokens = {"--tokens PATH": ["--tokens", str(path)], "--tokens": ["--tokens"]}.get(given, [])
    if given == "TRADELOOP_TOKENS_FILE":
        env[given] = str(path)
    completed = subprocess.run(
        [sys.executable, "-m", "tradeloop", "serve", "--http", "--host", "0.0.0.0", *tokens],
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert f"tradeloop serve: no tokens file at {path}" in completed.stderr
    assert "refusing to listen" not in completed.stderr
