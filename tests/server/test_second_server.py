"""A second server on a database that another tradeloop process is using: every store-backed
tool says so, with the pid and what to do, and works once the other process is gone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from mcp import Client

from tests.server.test_shutdown import HANDSHAKE, Output, _env
from tradeloop.server.app import build_server
from tradeloop.settings import Settings


def _first_server(db, tmp_path, data) -> tuple[subprocess.Popen, Output]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeloop", "serve", "--replay", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(db),
        cwd=tmp_path,
        text=True,
    )
    process.stdin.write(json.dumps(HANDSHAKE) + "\n")
    process.stdin.flush()
    err = Output(process.stderr)
    err.wait_for(lambda line: "strategy service ready" in line)
    return process, err


async def test_a_second_server_on_a_database_in_use_names_the_other_process_and_what_to_do(
    tmp_path, shared_data
) -> None:
    db = tmp_path / "shared.db"
    first, _ = _first_server(db, tmp_path, shared_data)
    try:
        server = build_server(Settings(db_path=db, replay_dir=shared_data))
        async with Client(server, mode="legacy") as client:
            refused = [
                await client.call_tool(tool, args)
                for tool, args in (
                    ("list_strategies", {}),
                    ("get_strategy", {"strategy_id": "s_0123456789abcdef"}),
                    ("create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 100}),
                )
            ]
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=30)
            deadline = time.monotonic() + 30
            while (after := await client.call_tool("list_strategies", {})).is_error:
                assert time.monotonic() < deadline, after.content[0].text
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    for result in refused:
        text = result.content[0].text
        assert result.is_error
        assert f"{db} is in use by another tradeloop process (pid {first.pid})" in text
        assert "stop the other one" in text and "call this tool again" in text
        assert "--db or TRADELOOP_DB" in text
        assert "StoreError" not in text
    assert after.structured_content["strategies"] == []
