"""SIGTERM / SIGINT stop ``tradeloop serve`` (stdio and HTTP) and ``tradeloop run`` within 2 s,
idle or with a strategy replaying flat out, while the host keeps stdin open; the database is
consistent afterwards."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

EXIT_WITHIN_S = 2.0
HANDSHAKE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


class Output:
    """A subprocess stream read by a thread; ``wait_for`` polls it (bounded)."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._stream = stream
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    def wait_for(self, predicate, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                line = self.lines[seen]
                seen += 1
                if predicate(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"not seen within {timeout} s; output so far: {self.lines[-20:]}")

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _env(db: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADELOOP_DB": str(db), **extra}


def _spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tradeloop", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        text=True,
    )


def _seconds_to_exit(process: subprocess.Popen, signum: int) -> float:
    """Send ``signum`` with stdin still open; the seconds until the process is gone."""
    assert process.poll() is None, "the process ended before the signal"
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return time.monotonic() - sent


def _assert_consistent(db: Path) -> None:
    """The store is intact: integrity check passes, each strategy's last slot is its newest
    cycle's, and every cycle that reports fills has its fill rows (a cycle is stored whole)."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for sid, last_slot in conn.execute("SELECT id, last_slot_ts FROM strategies"):
            newest = conn.execute(
                "SELECT max(slot_ts) FROM cycles WHERE strategy_id = ?", (sid,)
            ).fetchone()[0]
            assert last_slot == newest
        torn = conn.execute(
            "SELECT count(*) FROM cycles c WHERE n_tx != "
            "(SELECT count(*) FROM tx_results t WHERE t.cycle_id = c.id)"
        ).fetchone()[0]
        assert torn == 0


class StdioSession:
    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.out = Output(process.stdout)
        self.err = Output(process.stderr)
        self._next = 1

    def send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def handshake(self) -> None:
        self.send(HANDSHAKE)
        self.out.wait_for(lambda line: json.loads(line).get("id") == 0)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call(self, tool: str, **arguments) -> dict:
        request_id = self._next
        self._next += 1
        self.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        )
        line = self.out.wait_for(lambda text: json.loads(text).get("id") == request_id)
        result = json.loads(line)["result"]
        assert not result["isError"], result["content"][0]["text"]
        return result["structuredContent"]


def _start_replaying(session: StdioSession) -> str:
    """Create and start a strategy replaying flat out; returns once a few cycles ran."""
    created = session.call("create_strategy", symbols=["BTC-USDT"], initial_capital=1000)
    sid = created["strategy_id"]
    session.call("start_strategy", strategy_id=sid)
    deadline = time.monotonic() + 60
    while session.call("get_strategy", strategy_id=sid)["cycles"] < 3:
        assert time.monotonic() < deadline, "the replay did not run"
        time.sleep(0.05)
    return sid


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stdio_server_exits_within_2_s_of_a_signal_while_stdin_stays_open(
    shared_data, tmp_path, signum
) -> None:
    db = tmp_path / "t.db"
    session = StdioSession(_spawn(["serve", "--replay", str(shared_data)], _env(db), tmp_path))
    session.handshake()
    session.call("list_strategies")
    session.err.wait_for(lambda line: "strategy service ready" in line)
    elapsed = _seconds_to_exit(session.process, signum)
    assert elapsed < EXIT_WITHIN_S, f"exited {elapsed:.2f} s after the signal"
    assert session.process.returncode == 0
    assert "tradeloop stopped" in session.err.text
    _assert_consistent(db)


def test_stdio_server_exits_within_2_s_of_sigterm_with_a_strategy_replaying(
    shared_data, tmp_path
) -> None:
    db = tmp_path / "t.db"
    session = StdioSession(_spawn(["serve", "--replay", str(shared_data)], _env(db), tmp_path))
    session.handshake()
    sid = _start_replaying(session)
    elapsed = _seconds_to_exit(session.process, signal.SIGTERM)
    assert elapsed < EXIT_WITHIN_S, f"exited {elapsed:.2f} s after SIGTERM: {session.err.text}"
    assert session.process.returncode == 0
    _assert_consistent(db)
    # The next server resumes the same strategy from where the store says it is.
    again = StdioSession(_spawn(["serve", "--replay", str(shared_data)], _env(db), tmp_path))
    again.handshake()
    resumed = again.call("get_strategy", strategy_id=sid)
    assert resumed["cycles"] >= 3
    elapsed = _seconds_to_exit(again.process, signal.SIGTERM)
    assert elapsed < EXIT_WITHIN_S, f"exited {elapsed:.2f} s after SIGTERM: {again.err.text}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_server_exits_within_2_s_of_sigterm_with_a_strategy_replaying(
    shared_data, tmp_path
) -> None:
    db = tmp_path / "t.db"
    port = _free_port()
    process = _spawn(
        ["serve", "--http", "--port", str(port), "--replay", str(shared_data)], _env(db), tmp_path
    )
    err = Output(process.stderr)
    err.wait_for(lambda line: "Uvicorn running on" in line)
    url = f"http://127.0.0.1:{port}/mcp"
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    def call(request_id: int, tool: str, **arguments) -> dict:
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        reply = http.post(url, json=body, headers=session_headers)
        data = next(
            json.loads(line.removeprefix("data:"))
            for line in reply.text.splitlines()
            if line.startswith("data:")
        )
        assert not data["result"]["isError"], data["result"]["content"][0]["text"]
        return data["result"]["structuredContent"]

    with httpx2.Client(timeout=30) as http:
        opened = http.post(url, json=HANDSHAKE, headers=headers)
        session_headers = dict(headers)
        if "mcp-session-id" in opened.headers:
            session_headers["mcp-session-id"] = opened.headers["mcp-session-id"]
        http.post(
            url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=session_headers,
        )
        sid = call(1, "create_strategy", symbols=["BTC-USDT"], initial_capital=1000)["strategy_id"]
        call(2, "start_strategy", strategy_id=sid)
        deadline = time.monotonic() + 60
        while call(3, "get_strategy", strategy_id=sid)["cycles"] < 3:
            assert time.monotonic() < deadline, "the replay did not run"
            time.sleep(0.05)
        elapsed = _seconds_to_exit(process, signal.SIGTERM)
    assert elapsed < EXIT_WITHIN_S, f"exited {elapsed:.2f} s after SIGTERM"
    assert "tradeloop stopped" in err.text
    _assert_consistent(db)


def test_run_exits_within_2_s_of_sigterm_while_replaying_and_pauses_the_strategy(
    shared_data, tmp_path
) -> None:
    db = tmp_path / "t.db"
    config = tmp_path / "btc.json"
    config.write_text(
        json.dumps(
            {
                "exchange_config": {"exchange_id": "binance"},
                "trading_config": {
                    "symbols": ["BTC-USDT"],
                    "initial_capital": 1000,
                    "feature_intervals": ["1h"],
                    "decide_interval": 3600,
                },
            }
        )
    )
    process = _spawn(
        ["run", "--config", str(config), "--replay", str(shared_data), "--db", str(db)],
        _env(db),
        tmp_path,
    )
    err = Output(process.stderr)
    seen = 0

    def cycles(line: str) -> bool:
        nonlocal seen
        seen += line.startswith("cycle name=")
        return seen >= 3

    err.wait_for(cycles)
    elapsed = _seconds_to_exit(process, signal.SIGTERM)
    assert elapsed < EXIT_WITHIN_S, f"exited {elapsed:.2f} s after SIGTERM"
    assert "status=paused" in err.text
    summary = process.stdout.read()
    assert summary.startswith("Run btc ") and "Status  paused: interrupted by SIGTERM" in summary
    assert "Total return" in summary and "Final equity" in summary
    _assert_consistent(db)
