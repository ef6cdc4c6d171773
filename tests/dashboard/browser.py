"""What the browser tests share: a ``tradeloop serve --http`` subprocess, tool calls over plain
HTTP (the same 2026-07-28 POSTs the page sends), and headless Chromium through Playwright.

Chromium is Debian's package (``apt-get install chromium``), driven through ``executable_path``;
``playwright install`` is never needed. Without it (or without the playwright package) the tests
skip, except where ``TRADELOOP_REQUIRE_BROWSER`` (set by .ci/run) or ``CI=true`` says they must run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.shared_data import in_ci

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "bench" / "out"
"""Gitignored: the screenshots every run saves, to look at."""
MCP_VERSION = "2026-07-28"


def chromium_or_skip() -> str:
    """The chromium executable; skips (or fails, in CI) with the reason when it cannot run."""
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (scripts/setup --dev installs it)"
    executable = shutil.which("chromium")
    if executable is None:
        missing = missing or "Debian's chromium is not installed (apt-get install chromium)"
    if missing:
        if os.environ.get("TRADELOOP_REQUIRE_BROWSER") or in_ci():
            pytest.fail(f"browser tests must run here, but {missing}")
        pytest.skip(missing)
    assert executable is not None
    return executable


class ToolFailed(AssertionError):
    pass


@dataclass
class Served:
    base: str
    process: subprocess.Popen[str]
    http: httpx2.Client
    token: str | None = None
    _next_id: int = 0

    def raw(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's CallToolResult as JSON, exactly as /mcp answers it."""
        self._next_id += 1
        response = self.http.post(
            f"{self.base}/mcp",
            headers={
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": MCP_VERSION,
                "Mcp-Method": "tools/call",
                "Mcp-Name": name,
                **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            },
            json={
                "jsonrpc": "2.0",
                "id": self._next_id,
                "method": "tools/call",
                "params": {
                    "name": name,
                    "arguments": arguments,
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": MCP_VERSION,
                        "io.modelcontextprotocol/clientCapabilities": {},
                    },
                },
            },
        )
        response.raise_for_status()
        return _reply(response, self._next_id)["result"]

    def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        """A tool that must succeed: its structured content."""
        result = self.raw(tool, arguments)
        if result.get("isError"):
            raise ToolFailed(f"{tool}: {result['content'][0]['text']}")
        return result["structuredContent"]


def _reply(response: httpx2.Response, request_id: int) -> dict[str, Any]:
    if "text/event-stream" not in response.headers.get("content-type", ""):
        return response.json()
    for line in response.text.splitlines():
        if line.startswith("data:"):
            message = json.loads(line[5:])
            if message.get("id") == request_id and "result" in message:
                return message
    raise AssertionError(f"no answer to request {request_id} in the stream")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(replay_dir: Path, db: Path, token: str | None = None) -> Served:
    """``tradeloop serve --http --replay DIR`` on a free loopback port, once it listens."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADELOOP_DB": str(db)}
    if token:
        env["TRADELOOP_HTTP_TOKEN"] = token
    args = ["serve", "--http", "--port", str(port), "--replay", str(replay_dir)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeloop", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    with ThreadPoolExecutor(1) as reader:
        ready = reader.submit(_wait_for_line, process, "Uvicorn running on")
        if not ready.result(timeout=60):
            process.kill()
            raise AssertionError("tradeloop serve --http did not start")
    assert process.stderr is not None
    threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe flowing
    return Served(f"http://127.0.0.1:{port}", process, httpx2.Client(timeout=120), token)


def stop_server(served: Served) -> None:
    served.http.close()
    served.process.terminate()
    served.process.wait(timeout=60)


def _wait_for_line(process: subprocess.Popen[str], text: str) -> bool:
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return True
    return False


def money(value: float) -> str:
    """The page's money format (en-US grouping, two decimals)."""
    return f"{value:,.2f}"


def signed(value: float) -> str:
    return ("+" if value > 0 else "") + money(value)
