"""``/dashboard`` over HTTP: the page, its lockdown, and the event stream behind the token.

The page's behaviour in a browser, and the live event stream against a running server, are
tested in tests/dashboard/test_browser.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from pydantic import SecretStr

from tests.server.stub_service import FailingService, opener
from tradeloop.server.app import build_server
from tradeloop.server.dashboard_http import event_payload
from tradeloop.server.transports import http_app
from tradeloop.services.models import ServiceEvent
from tradeloop.settings import Settings
from tradeloop.trading.errors import NotFound
from tradeloop.trading.models import CycleResult, StrategyStatus, StrategySummary

TOKEN = "t0ken-for-dashboard-tests"


@asynccontextmanager
async def client(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    server = build_server(settings, open_service=opener(FailingService(NotFound("none"))))
    app = http_app(server)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as c:
            yield c


async def test_the_dashboard_page_is_served_with_a_policy_that_allows_no_other_origin(
    settings,
) -> None:
    async with client(settings) as http:
        response = await http.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    script_src = policy.split("script-src ", 1)[1].split(";", 1)[0]
    assert script_src.startswith("'sha256-") and "unsafe" not in script_src
    assert "<title>tradeloop dashboard</title>" in response.text


async def test_the_dashboard_refuses_a_foreign_host_or_origin(settings) -> None:
    async with client(settings) as http:
        host = await http.get("/dashboard", headers={"Host": "evil.example:8765"})
        origin = await http.get("/dashboard/events", headers={"Origin": "http://evil.example"})
    assert host.status_code == 421
    assert origin.status_code == 403


async def test_with_a_token_the_event_stream_needs_it_as_mcp_does(tmp_path) -> None:
    settings = Settings(db_path=tmp_path / "t.db", http_token=SecretStr(TOKEN))
    async with client(settings) as http:
        anonymous = await http.get("/dashboard/events")
        wrong = await http.get("/dashboard/events", headers={"Authorization": "Bearer nope"})
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert TOKEN not in anonymous.text


def test_an_event_carries_the_strategy_status_and_the_cycle_equity() -> None:
    summary = StrategySummary(
        strategy_id="s_1",
        ts=1_000,
        equity=1234.5,
        cash=1000.0,
        realized_pnl=0.0,
        unrealized_pnl=234.5,
        fees_paid=0.0,
        total_return_pct=23.45,
        open_positions=1,
    )
    cycle = CycleResult(compose_id="c_1", strategy_id="s_1", ts=1_000, strategy_summary=summary)
    event = ServiceEvent("s_1", "btc", StrategyStatus.RUNNING, None, cycle)
    assert event_payload(event) == {
        "strategy_id": "s_1",
        "name": "btc",
        "status": "running",
        "reason": None,
        "compose_id": "c_1",
        "ts": 1_000,
        "equity": 1234.5,
    }


async def test_under_oauth_the_event_streams_401_names_the_resource_metadata_as_mcps_does(
    tmp_path,
) -> None:
    settings = Settings.from_env(
        {
            "TRADELOOP_DB": str(tmp_path / "t.db"),
            "TRADELOOP_OAUTH_ISSUER": "https://id.example.com/",
            "TRADELOOP_OAUTH_RESOURCE": "https://trade.example.com/mcp",
        }
    )
    async with client(settings) as http:
        events = await http.get("/dashboard/events")
        mcp = await http.post("/mcp", json={}, headers={"Accept": "application/json"})
    assert events.status_code == mcp.status_code == 401
    challenge = events.headers["www-authenticate"]
    assert challenge == mcp.headers["www-authenticate"]
    assert challenge.endswith(
        'resource_metadata="https://trade.example.com/.well-known/oauth-protected-resource/mcp"'
    )
