"""``/dashboard/events`` against a real ``tradeloop serve --http``: a completed cycle arrives as
an event, and an open stream does not keep the server from stopping."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

import httpx2

from tests.dashboard.browser import Served, start_server, stop_server

WAIT_S = 30


def follow(served: Served, lines: queue.Queue[str]) -> threading.Thread:
    """Read the event stream on a thread, line by line, until the server ends it."""

    def read() -> None:
        with httpx2.Client(timeout=None) as http:
            with http.stream("GET", f"{served.base}/dashboard/events") as response:
                lines.put(f"status {response.status_code}")
                for line in response.iter_lines():
                    lines.put(line)
        lines.put("closed")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


def next_event(lines: queue.Queue[str]) -> dict:
    while True:
        line = lines.get(timeout=WAIT_S)
        if line.startswith("data:"):
            return json.loads(line[5:])


def test_a_completed_cycle_arrives_as_an_event_with_its_equity(shared_data, tmp_path) -> None:
    served = start_server(shared_data, tmp_path / "t.db")
    try:
        lines: queue.Queue[str] = queue.Queue()
        follow(served, lines)
        assert lines.get(timeout=WAIT_S) == "status 200"
        sid = served.call("create_strategy", symbols=["BTC-USDT"], initial_capital=1000)[
            "strategy_id"
        ]
        outcome = served.call("run_cycle_now", strategy_id=sid)
        event = next_event(lines)
        while event["compose_id"] is None:  # the create published a status event first
            event = next_event(lines)
    finally:
        stop_server(served)
    assert event == {
        "strategy_id": sid,
        "name": event["name"],
        "status": "created",
        "reason": None,
        "compose_id": outcome["compose_id"],
        "ts": outcome["ts"],
        "equity": outcome["equity"],
    }


def test_an_open_event_stream_does_not_keep_the_server_from_stopping(
    shared_data: Path, tmp_path
) -> None:
    served = start_server(shared_data, tmp_path / "t.db")
    lines: queue.Queue[str] = queue.Queue()
    reader = follow(served, lines)
    assert lines.get(timeout=WAIT_S) == "status 200"
    served.process.terminate()
    try:
        served.process.wait(timeout=WAIT_S)  # uvicorn waits for open responses before it stops
    finally:
        served.process.kill()  # a no-op once it has stopped
        served.http.close()
    reader.join(timeout=WAIT_S)
    assert served.process.returncode in (0, -15)  # uvicorn re-raises SIGTERM once it has stopped
    assert not reader.is_alive()
