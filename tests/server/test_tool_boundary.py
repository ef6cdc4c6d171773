"""What the model reads when a tool fails: the message it can act on, and nothing internal."""

from __future__ import annotations

import logging

import pytest
from mcp import Client
from pydantic import SecretStr

from tests.server.stub_service import FailingService, failing_opener, opener
from tradeloop.server.app import build_server
from tradeloop.services.scrub import scrub
from tradeloop.settings import Settings
from tradeloop.trading.errors import (
    ConfigError,
    InvalidTransition,
    MarketDataUnavailable,
    NotFound,
    OperationalError,
)

SECRET = "sk-ant-test-0123456789"


async def call(settings: Settings, error: BaseException, tool: str = "get_portfolio", **args):
    service = FailingService(error)
    server = build_server(settings, open_service=opener(service))
    async with Client(server) as client:
        result = await client.call_tool(tool, args or {"strategy_id": "s_0123456789abcdef"})
    assert result.is_error
    return result.content[0].text, service


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NotFound("no strategy with id 's_0123456789abcdef'"), "no strategy with id"),
        (
            InvalidTransition(
                "cannot pause strategy s_1: it is stopped (pause needs one of: running)"
            ),
            "pause needs one of: running",
        ),
        (ConfigError("symbols: binance does not list FOO-USDT"), "binance does not list FOO-USDT"),
    ],
)
async def test_a_config_error_reaches_the_model_with_its_message(settings, error, expected) -> None:
    text, _ = await call(settings, error)
    assert expected in text
    assert "Traceback" not in text


async def test_an_unreachable_venue_is_named_and_marked_temporary(settings) -> None:
    text, _ = await call(settings, MarketDataUnavailable("binance could not be reached: timed out"))
    assert text.startswith("binance could not be reached")
    assert "temporary" in text


async def test_an_operational_error_says_so(settings) -> None:
    text, _ = await call(settings, OperationalError("bybit rejected the API key"))
    assert "operational error: bybit rejected the API key" in text


async def test_an_unexpected_error_is_logged_and_the_model_gets_a_generic_message(
    settings, caplog
) -> None:
    boom = RuntimeError(f"boom at /home/me/secret/place.py with {SECRET}")
    with caplog.at_level(logging.ERROR):
        text, _ = await call(settings, boom)
    assert (
        text == "get_portfolio failed because of an internal error; the server log has the details"
    )
    assert any("boom at" in (r.exc_text or "") or r.exc_info for r in caplog.records)


async def test_configured_secrets_and_file_paths_never_appear_in_a_tool_error(tmp_path) -> None:
    settings = Settings(db_path=tmp_path / "t.db", anthropic_api_key=SecretStr(SECRET))
    error = ConfigError(f"cannot read candles from /data/private/binance_x_1h.csv (key {SECRET})")
    text, _ = await call(settings, error)
    assert SECRET not in text
    assert "/data/private" not in text
    assert "binance_x_1h.csv" in text


async def test_a_store_that_cannot_be_opened_makes_tools_fail_with_the_reason(settings) -> None:
    server = build_server(
        settings, open_service=failing_opener(ConfigError("the database is from a newer tradeloop"))
    )
    async with Client(server) as client:
        result = await client.call_tool("list_strategies", {})
    assert result.is_error
    assert "could not be opened: the database is from a newer tradeloop" in result.content[0].text


def test_scrub_keeps_urls_and_symbols_but_drops_paths_and_tracebacks() -> None:
    assert scrub("GET https://api.binance.com/api/v3/klines failed") == (
        "GET https://api.binance.com/api/v3/klines failed"
    )
    assert scrub("BTC/USDT:USDT is not listed") == "BTC/USDT:USDT is not listed"
    assert scrub("bad file /var/lib/tradeloop/x.db") == "bad file x.db"
    assert scrub("oops\nTraceback (most recent call last):\n  File ...") == "oops"
    assert scrub("key abcd1234 here", ["abcd1234"]) == "key *** here"
