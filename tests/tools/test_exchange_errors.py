"""Without replay data the server asks the exchange: unlisted symbols and unreachable venues."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import ccxt
import pytest
from aiohttp.abc import AbstractResolver
from mcp import Client

from tests.execution.fake_exchange.dialect import TransportDown
from tests.execution.fake_exchange.transport import (
    FakeVenueServer,
    LoopbackResolver,
    loopback_session,
    make_certs,
    use_session,
)
from tests.tools.conftest import error
from tradeloop.server.app import build_server
from tradeloop.trading.data.exchanges import (
    ExchangeKey,
    build_exchange,
    close_all,
    register_exchange,
)


class OfflineExchange:
    """Stands in for a ccxt exchange: a fixed market list, or a network that is down."""

    def __init__(self, markets: dict[str, dict] | None = None, down: bool = False) -> None:
        self.markets = markets or {}
        self.down = down
        self.closed = False

    async def load_markets(self) -> dict:
        if self.down:
            raise ccxt.NetworkError(
                "binance GET https://api.binance.com/api/v3/exchangeInfo timed out"
            )
        return self.markets

    async def fetch_ohlcv(self, *args, **kwargs) -> list:
        raise ccxt.NetworkError("timed out")

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def exchange():
    yield
    await close_all()


async def test_a_symbol_the_exchange_does_not_list_is_refused_and_nothing_is_stored(
    settings, exchange
) -> None:
    register_exchange(ExchangeKey("binance"), OfflineExchange({"BTC/USDT": {}, "ETH/USDT": {}}))
    async with Client(build_server(settings)) as client:
        text = await error(
            client, "create_strategy", symbols=["BTC-USDT", "FOO-USDT"], initial_capital=100
        )
        listed = await client.call_tool("list_strategies", {})
    assert (
        text == "symbols: binance spot does not list FOO-USDT; use symbols it trades, like BTC-USDT"
    )
    assert listed.structured_content["count"] == 0


async def test_an_unreachable_exchange_is_named_in_the_error(settings, exchange) -> None:
    register_exchange(ExchangeKey("binance"), OfflineExchange(down=True))
    async with Client(build_server(settings)) as client:
        created = await error(client, "create_strategy", symbols=["BTC-USDT"], initial_capital=100)
        features = await error(client, "query_features", symbols=["BTC-USDT"])
    for text in (created, features):
        assert text.startswith("binance spot could not be reached")
        assert "temporary" in text


async def test_the_server_closes_the_exchanges_it_used_when_it_stops(settings, exchange) -> None:
    fake = OfflineExchange({"BTC/USDT": {}})
    register_exchange(ExchangeKey("binance"), fake)
    async with Client(build_server(settings)) as client:
        await client.call_tool("create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 100})
    assert fake.closed


# Through ccxt's own request path: a real ccxt binance whose aiohttp session cannot leave this
# machine. What fails is the wire (DNS, a refused connection, a silent peer, a 502 answer), and
# ccxt maps it onto its errors exactly as it would in the field.


class FailingResolver(AbstractResolver):
    """DNS is down: every lookup fails the way getaddrinfo does when offline."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    async def close(self) -> None:
        return None


def wired_binance(session: aiohttp.ClientSession, timeout_ms: int = 10_000):
    exchange = build_exchange(ExchangeKey("binance"))
    exchange.timeout = timeout_ms
    return use_session(exchange, session)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def tool_errors(settings) -> tuple[str, str]:
    async with Client(build_server(settings)) as client:
        created = await error(client, "create_strategy", symbols=["BTC-USDT"], initial_capital=100)
        features = await error(client, "query_features", symbols=["BTC-USDT"])
    return created, features


async def test_a_host_name_that_does_not_resolve_says_the_network_may_be_down(
    settings, exchange
) -> None:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=FailingResolver())
    ) as session:
        register_exchange(ExchangeKey("binance"), wired_binance(session))
        texts = await tool_errors(settings)
    for text in texts:
        assert text.startswith("binance spot could not be reached: the host name api.binance.com")
        assert "did not resolve" in text and "offline" in text
        assert "try again shortly" not in text


async def test_a_refused_connection_names_the_host_and_says_the_network_may_be_down(
    settings, exchange
) -> None:
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver(closed_port()))
    async with aiohttp.ClientSession(connector=connector) as session:
        register_exchange(ExchangeKey("binance"), wired_binance(session))
        texts = await tool_errors(settings)
    for text in texts:
        assert text.startswith("binance spot could not be reached: connecting to api.binance.com")
        assert "Connect call failed" in text or "refused" in text.lower()
        assert "network may be down" in text
        assert "try again shortly" not in text


async def test_a_venue_that_does_not_answer_in_time_is_temporary(settings, exchange) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers (not even the TLS handshake)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        connector = aiohttp.TCPConnector(resolver=LoopbackResolver(port))
        async with aiohttp.ClientSession(connector=connector) as session:
            register_exchange(ExchangeKey("binance"), wired_binance(session, timeout_ms=300))
            texts = await tool_errors(settings)
    finally:
        server.close()
    for text in texts:
        assert text.startswith("binance spot did not answer in time (api.binance.com)")
        assert text.endswith("(temporary: try again shortly)")


class BadGateway:
    """The venue's side is down: every request gets 502."""

    def handle(self, method: str, url: str, headers: dict, body: str | None) -> tuple[int, str]:
        raise TransportDown()


async def test_a_5xx_answer_names_the_host_and_is_temporary(settings, exchange, tmp_path) -> None:
    cert, key = make_certs(tmp_path)
    async with FakeVenueServer(BadGateway(), (cert, key)) as venue:  # type: ignore[arg-type]
        async with loopback_session(venue.port, cert) as session:
            register_exchange(ExchangeKey("binance"), wired_binance(session))
            texts = await tool_errors(settings)
    for text in texts:
        assert text.startswith("binance spot could not be reached (api.binance.com)")
        assert "502" in text
        assert text.endswith("(temporary: try again shortly)")
