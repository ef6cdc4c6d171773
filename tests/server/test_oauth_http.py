"""OAuth over a real ``tradeloop serve --http`` subprocess, with a local issuer (keys made by the
test, JWKS on 127.0.0.1): bad tokens get 401 pointing at the protected-resource metadata, a
valid one lets the SDK client in, and a read-only one can call read tools only."""

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
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.server.oauth_issuer import (
    READ,
    TRADE,
    Issuer,
    SigningKey,
    hs256_with_public_key,
    local_issuer,
    tampered,
    unsigned,
)
from tests.server.test_http import HEADERS, INITIALIZE, _free_port, _wait_for_line, http_client
from tradeloop.settings import Settings

OPERATOR_TOKEN = "operator-t0ken-for-tests-only"
KEY = SigningKey.rsa("rsa-1")


@dataclass
class Served:
    url: str
    issuer: Issuer

    @property
    def metadata_url(self) -> str:
        return self.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")

    def token(self, **claims: object) -> str:
        return self.issuer.mint(self.issuer.claims(self.url, **claims))


@pytest.fixture(scope="module")
def served(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One issuer and one server for the module: ``tradeloop serve --http`` with OAuth and the
    operator's static token both configured."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with local_issuer(KEY) as issuer:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TRADELOOP_DB": str(tmp_path_factory.mktemp("oauth") / "t.db"),
            "TRADELOOP_HTTP_TOKEN": OPERATOR_TOKEN,
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


def bad_tokens(served: Served) -> dict[str, str]:
    now = int(time.time())
    good = served.issuer.claims(served.url)
    return {
        "expired": served.token(iat=now - 7200, exp=now - 3600),
        "wrong audience": served.issuer.mint(served.issuer.claims("http://127.0.0.1:1/mcp")),
        "wrong issuer": served.token(iss="https://evil.example.com"),
        "unsigned (alg none)": unsigned(good, KEY.kid),
        "tampered": tampered(served.token(scope=READ), scope=f"{READ} {TRADE}"),
        "wrong key": served.issuer.mint(good, SigningKey.rsa(KEY.kid)),
        "HS256 keyed with the public key": hs256_with_public_key(good, KEY),
    }


BAD = ["no token", *bad_tokens(Served("http://127.0.0.1:1/mcp", Issuer("http://x", [KEY])))]


@pytest.mark.parametrize("kind", BAD)
async def test_a_bad_token_gets_401_naming_the_resource_metadata(served, kind) -> None:
    token = None if kind == "no token" else bad_tokens(served)[kind]
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient() as http:
        response = await http.post(served.url, json=INITIALIZE, headers=HEADERS | auth)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{served.metadata_url}"' in challenge
    assert token is None or token not in response.text


async def test_the_protected_resource_metadata_names_the_issuer_and_both_scopes(served) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.get(served.metadata_url)
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["resource"] == served.url
    assert metadata["authorization_servers"] == [served.issuer.url]
    assert metadata["scopes_supported"] == [READ, TRADE]
    assert metadata["bearer_methods_supported"] == ["header"]


async def test_a_token_without_the_read_scope_gets_403_insufficient_scope(served) -> None:
    token = served.token(scope="openid profile")
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            served.url, json=INITIALIZE, headers=HEADERS | {"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_valid_token_lets_the_sdk_client_list_tools_and_trade(served, mode) -> None:
    headers = {"Authorization": f"Bearer {served.token(sub=f'auth0|trader-{mode}')}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        transport = streamable_http_client(served.url, http_client=http)
        async with Client(transport, **({"mode": "legacy"} if mode == "legacy" else {})) as client:
            tools = await client.list_tools()
            created = await client.call_tool(
                "create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 1000}
            )
            listed = await client.call_tool("list_strategies", {})
    assert "create_strategy" in {tool.name for tool in tools.tools}
    assert not created.is_error, created.content
    sid = created.structured_content["strategy_id"]
    assert sid in json.dumps(listed.structured_content)


async def test_a_read_only_token_is_refused_every_tool_without_read_only_hint(served) -> None:
    """Iterates over the published tools, so a tool added later cannot slip through."""
    headers = {"Authorization": f"Bearer {served.token(sub='auth0|viewer', scope=READ)}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(
            streamable_http_client(served.url, http_client=http), mode="legacy"
        ) as client:
            tools = (await client.list_tools()).tools
            mutating = [
                t.name for t in tools if not (t.annotations and t.annotations.read_only_hint)
            ]
            answers = {name: await client.call_tool(name, {}) for name in mutating}
            listed = await client.call_tool("list_strategies", {})
    assert {"create_strategy", "start_strategy", "delete_strategy"} <= set(mutating)
    for name, answer in answers.items():
        text = " ".join(getattr(block, "text", "") for block in answer.content)
        assert answer.is_error, name
        assert f"{name} changes state and needs the '{TRADE}' scope" in text, (name, text)
    assert not listed.is_error


async def test_the_operator_token_still_works_beside_oauth(served) -> None:
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(
            streamable_http_client(served.url, http_client=http), mode="legacy"
        ) as client:
            created = await client.call_tool(
                "create_strategy", {"symbols": ["ETH-USDT"], "initial_capital": 500}
            )
    assert not created.is_error, created.content


@pytest.mark.parametrize("host", ["trade.example.com", "trade.example.com:443"])
async def test_the_resource_urls_host_is_accepted_behind_a_proxy_and_others_are_not(
    tmp_path, host
) -> None:
    """Bound to loopback behind a TLS proxy: requests for the public resource URL pass the
    DNS-rebinding check, a foreign Host still gets 421 (the operator's token gets past the
    bearer check, which comes first)."""
    settings = Settings.from_env(
        {
            "TRADELOOP_DB": str(tmp_path / "t.db"),
            "TRADELOOP_HTTP_TOKEN": OPERATOR_TOKEN,
            "TRADELOOP_OAUTH_ISSUER": "https://id.example.com/",
            "TRADELOOP_OAUTH_RESOURCE": "https://trade.example.com/mcp",
        }
    )
    token = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    public = {"Host": host, "Origin": "https://trade.example.com"}
    async with http_client(settings) as client:
        metadata = await client.get("/.well-known/oauth-protected-resource/mcp", headers=public)
        anonymous = await client.post("/mcp", json=INITIALIZE, headers=HEADERS | public)
        let_in = await client.post("/mcp", json=INITIALIZE, headers=HEADERS | token | public)
        foreign = await client.post(
            "/mcp", json=INITIALIZE, headers=HEADERS | token | {"Host": "evil.example:443"}
        )
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == "https://trade.example.com/mcp"
    assert metadata.json()["authorization_servers"] == ["https://id.example.com/"]
    assert anonymous.status_code == 401
    assert let_in.status_code == 200
    assert foreign.status_code == 421


async def test_a_client_session_with_a_bearer_jwt_lists_tools_and_calls_one(served) -> None:
    """The SDK's ``ClientSession`` over streamable HTTP, as a third-party host would use it."""
    headers = {"Authorization": f"Bearer {served.token(sub='auth0|session', scope=READ)}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with streamable_http_client(served.url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                listed = await session.call_tool("list_strategies", {})
    assert "list_strategies" in {tool.name for tool in tools.tools}
    assert not listed.is_error
