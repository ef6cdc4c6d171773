"""Streamable HTTP: DNS-rebinding protection on loopback, the bearer token, the bind check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from tests.server.stub_service import FailingService, opener
from tradeloop.server.app import build_server
from tradeloop.server.transports import check_bind, http_app, is_loopback
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError, NotFound

TOKEN = "t0ken-for-tests-only"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@asynccontextmanager
async def http_client(
    settings: Settings,
    host: str = "127.0.0.1",
    allowed_hosts: tuple[str, ...] = (),
    allowed_origins: tuple[str, ...] = (),
) -> AsyncIterator[httpx2.AsyncClient]:
    server = build_server(settings, open_service=opener(FailingService(NotFound("none"))))
    app = http_app(server, host, allowed_hosts, allowed_origins)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8765"
        ) as client:
            yield client


async def test_initialize_over_http_succeeds_on_loopback(settings) -> None:
    async with http_client(settings) as client:
        response = await client.post("/mcp", json=INITIALIZE, headers=HEADERS)
    assert response.status_code == 200
    assert "tradeloop" in response.text


async def test_a_foreign_host_header_gets_421(settings) -> None:
    async with http_client(settings) as client:
        response = await client.post(
            "/mcp", json=INITIALIZE, headers=HEADERS | {"Host": "evil.example:8765"}
        )
    assert response.status_code == 421


async def test_a_foreign_origin_gets_403(settings) -> None:
    async with http_client(settings) as client:
        response = await client.post(
            "/mcp", json=INITIALIZE, headers=HEADERS | {"Origin": "http://evil.example"}
        )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
async def test_with_a_token_configured_a_request_without_it_gets_401(
    tmp_path, authorization
) -> None:
    settings = Settings(db_path=tmp_path / "t.db", http_token=SecretStr(TOKEN))
    headers = HEADERS | ({"Authorization": authorization} if authorization else {})
    async with http_client(settings) as client:
        response = await client.post("/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert TOKEN not in response.text


async def test_with_a_token_configured_the_right_token_is_let_in(tmp_path) -> None:
    settings = Settings(db_path=tmp_path / "t.db", http_token=SecretStr(TOKEN))
    async with http_client(settings) as client:
        response = await client.post(
            "/mcp", json=INITIALIZE, headers=HEADERS | {"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 200


FOREIGN = {"Host": "evil.example:8765", "Origin": "http://evil.example"}
TOKEN_HEADERS = HEADERS | {"Authorization": f"Bearer {TOKEN}"}


async def test_on_0_0_0_0_without_allowed_host_any_host_and_origin_is_accepted_with_a_warning(
    tmp_path, caplog
) -> None:
    """As the README says next to the HTTP example: the token alone guards a wildcard bind."""
    settings = Settings(db_path=tmp_path / "t.db", http_token=SecretStr(TOKEN))
    async with http_client(settings, "0.0.0.0") as client:
        response = await client.post("/mcp", json=INITIALIZE, headers=TOKEN_HEADERS | FOREIGN)
    assert response.status_code == 200
    assert "Host/Origin validation is off" in caplog.text


async def test_allowed_host_without_a_matching_allowed_origin_refuses_that_origin(
    tmp_path,
) -> None:
    settings = Settings(db_path=tmp_path / "t.db", http_token=SecretStr(TOKEN))
    mine = {"Host": "myhost:8765", "Origin": "https://myhost:8765"}
    async with http_client(settings, "0.0.0.0", ("myhost:8765",)) as client:
        without_origin = await client.post(
            "/mcp", json=INITIALIZE, headers=TOKEN_HEADERS | {"Host": "myhost:8765"}
        )
        browser = await client.post("/mcp", json=INITIALIZE, headers=TOKEN_HEADERS | mine)
        foreign = await client.post("/mcp", json=INITIALIZE, headers=TOKEN_HEADERS | FOREIGN)
    async with http_client(
        settings, "0.0.0.0", ("myhost:8765",), ("https://myhost:8765",)
    ) as client:
        matched = await client.post("/mcp", json=INITIALIZE, headers=TOKEN_HEADERS | mine)
    assert without_origin.status_code == 200
    assert browser.status_code == 403
    assert foreign.status_code == 421
    assert matched.status_code == 200


def test_the_readme_says_a_wildcard_bind_accepts_any_host_and_needs_allowed_origin() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Other transports", 1)[1].split("\n### ", 1)[0]
    assert "accepts **any** `Host` and `Origin`" in section
    assert "--allowed-origin" in section and "403" in section


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses_are_recognized(host) -> None:
    assert is_loopback(host)
    check_bind(host, token_configured=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_a_non_loopback_bind_without_a_token_is_refused(host) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="TRADELOOP_HTTP_TOKEN"):
        check_bind(host, token_configured=False)
    check_bind(host, token_configured=True)


def test_tradeloop_serve_refuses_to_start_on_a_public_address_without_a_token(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TRADELOOP_DB": str(tmp_path / "t.db")}
    completed = subprocess.run(
        [sys.executable, "-m", "tradeloop", "serve", "--http", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "refusing to listen on 0.0.0.0" in completed.stderr
    assert completed.stdout == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def http_server(shared_data, tmp_path) -> AsyncIterator[str]:
    """``tradeloop serve --http`` as a subprocess with a token; yields its URL once it listens."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TRADELOOP_DB": str(tmp_path / "t.db"),
        "TRADELOOP_HTTP_TOKEN": TOKEN,
    }
    args = ["serve", "--http", "--port", str(port), "--replay", str(shared_data)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeloop", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with ThreadPoolExecutor(1) as reader:
            ready = reader.submit(_wait_for_line, process, "Uvicorn running on")
            assert ready.result(timeout=60), "the server did not start"
        threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe flowing
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_for_line(process: subprocess.Popen, text: str) -> bool:
    for line in process.stderr:
        if text in line:
            return True
    return False


async def test_a_strategy_runs_over_streamable_http_with_the_token(shared_data, tmp_path) -> None:
    async with http_server(shared_data, tmp_path) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx2.AsyncClient(headers=headers) as http:
            async with Client(
                streamable_http_client(url, http_client=http), mode="legacy"
            ) as client:
                created = await client.call_tool(
                    "create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 1000}
                )
                sid = created.structured_content["strategy_id"]
                cycle = await client.call_tool("run_cycle_now", {"strategy_id": sid})
                portfolio = await client.call_tool("get_portfolio", {"strategy_id": sid})
        async with httpx2.AsyncClient() as anonymous:
            refused = await anonymous.post(url, json=INITIALIZE, headers=HEADERS)
    assert not cycle.is_error and cycle.structured_content["status"] == "ok"
    assert portfolio.structured_content["strategy_id"] == sid
    assert refused.status_code == 401
