"""``tradeloop serve`` as a real subprocess over stdio, as a desktop host launches it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters


def serve_params(shared_data: Path, db: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "tradeloop", "serve", "--replay", str(shared_data)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADELOOP_DB": str(db)},
        cwd=str(db.parent),
    )


async def call(client: Client, tool: str, **args) -> dict:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_paper_strategy_runs_end_to_end_over_stdio_on_replay_data(
    shared_data, tmp_path, mode
) -> None:
    async with Client(serve_params(shared_data, tmp_path / "t.db"), mode=mode) as client:
        created = await call(
            client, "create_strategy", symbols=["BTC-USDT", "ETH-USDT"], initial_capital=10_000
        )
        sid = created["strategy_id"]
        cycle = await call(client, "run_cycle_now", strategy_id=sid)
        portfolio = await call(client, "get_portfolio", strategy_id=sid)
        digest = await call(client, "get_digest", strategy_id=sid)
        stopped = await call(client, "stop_strategy", strategy_id=sid, close_positions=True)
        listed = await call(client, "list_strategies")
    assert created["data"] == "replay"
    assert cycle["status"] == "ok" and cycle["executed"] is True
    assert portfolio["strategy_id"] == sid and portfolio["equity"] > 0
    assert digest["strategy_id"] == sid
    assert stopped["status"] == "stopped"
    assert listed["strategies"][0]["cycles"] >= 1


async def test_strategies_survive_a_restart_of_the_server(shared_data, tmp_path) -> None:
    params = serve_params(shared_data, tmp_path / "t.db")
    async with Client(params, mode="legacy") as client:
        sid = (await call(client, "create_strategy", symbols=["BTC-USDT"], initial_capital=500))[
            "strategy_id"
        ]
        await call(client, "run_cycle_now", strategy_id=sid)
    async with Client(params, mode="legacy") as client:
        detail = await call(client, "get_strategy", strategy_id=sid)
    assert detail["cycles"] == 1


def test_stdout_carries_only_json_rpc_messages(shared_data, tmp_path) -> None:
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "query_features", "arguments": {"symbols": ["BTC-USDT"]}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "get_strategy", "arguments": {"strategy_id": "s_nope"}},
        },
    ]
    params = serve_params(shared_data, tmp_path / "t.db")
    process = subprocess.Popen(
        [params.command, *params.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=params.env,
        text=True,
    )
    process.stdin.write("".join(json.dumps(r) + "\n" for r in requests))
    process.stdin.flush()
    with ThreadPoolExecutor(1) as reader:
        lines = reader.submit(lambda: [process.stdout.readline() for _ in range(4)])
        replies = lines.result(timeout=120)
    rest, stderr = process.communicate(timeout=120)  # closes stdin: the server shuts down
    completed = subprocess.CompletedProcess(
        process.args, process.returncode, "".join(replies) + rest, stderr
    )
    parsed = [json.loads(line) for line in completed.stdout.splitlines()]
    messages = sorted(parsed, key=lambda m: m["id"])  # requests are served concurrently
    assert [m["id"] for m in messages] == [1, 2, 3, 4]
    assert all(m["jsonrpc"] == "2.0" for m in messages)
    assert messages[2]["result"]["isError"] is False
    assert messages[3]["result"]["isError"] is True
    assert completed.returncode == 0
    assert "strategy service ready" in completed.stderr
    assert "tradeloop stopped" in completed.stderr


def test_sigterm_shuts_the_server_down_cleanly(shared_data, tmp_path) -> None:
    params = serve_params(shared_data, tmp_path / "t.db")
    process = subprocess.Popen(
        [params.command, *params.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=params.env,
        text=True,
    )
    listing = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "list_strategies", "arguments": {}},
    }
    handshake = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    process.stdin.write(json.dumps(handshake) + "\n")
    process.stdin.write(
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"
    )
    process.stdin.write(json.dumps(listing) + "\n")
    process.stdin.flush()
    with ThreadPoolExecutor(1) as reader:
        replies = reader.submit(lambda: [process.stdout.readline() for _ in range(2)])
        assert all(json.loads(r)["id"] in (0, 1) for r in replies.result(timeout=120))
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0
    assert "received SIGTERM, shutting down" in stderr
    assert "tradeloop stopped" in stderr  # logged once the service (and its scheduler) closed
