"""Without replay data the server asks the exchange: unlisted symbols and unreachable venues."""

from __future__ import annotations

import ccxt
import pytest
from mcp import Client

from tests.tools.conftest import error
from tradeloop.server.app import build_server
from tradeloop.trading.data.exchanges import ExchangeKey, close_all, register_exchange


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
