"""TRADELOOP_EXCHANGE_URL_<ID>: a real ccxt exchange built by the production builder talks to a
fake venue on 127.0.0.1; any address off this machine is refused by name."""

from __future__ import annotations

import pytest

from tests.execution.fake_exchange.binance import BinanceDialect
from tests.execution.fake_exchange.transport import FakeVenueServer
from tests.execution.harness import fake_account
from tradeloop.trading.data.exchange_urls import base_url_override
from tradeloop.trading.data.exchanges import ExchangeKey, build_exchange
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import MarketType


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5:8123", "https://api.binance.com", "http://192.168.1.2", "ftp://127.0.0.1"],
)
def test_a_base_url_off_this_machine_is_refused_naming_the_variable(url: str) -> None:
    with pytest.raises(ConfigError, match="TRADELOOP_EXCHANGE_URL_BINANCE"):
        base_url_override("binance", {"TRADELOOP_EXCHANGE_URL_BINANCE": url})


@pytest.mark.parametrize("url", ["http://127.0.0.1:8123/", "http://localhost:1", "http://[::1]:9"])
def test_loopback_base_urls_are_honoured(url: str) -> None:
    assert base_url_override("binance", {"TRADELOOP_EXCHANGE_URL_BINANCE": url}) == url.rstrip("/")


async def test_the_production_builder_sends_every_request_to_the_loopback_fake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = fake_account("binance", MarketType.PERPETUAL)
    async with FakeVenueServer(BinanceDialect(account)) as server:
        monkeypatch.setenv("TRADELOOP_EXCHANGE_URL_BINANCE", f"http://127.0.0.1:{server.port}")
        exchange = build_exchange(ExchangeKey("binance", MarketType.PERPETUAL, testnet=True))
        try:
            await exchange.load_markets()
            ticker = await exchange.fetch_ticker("BTC/USDT:USDT")
            candles = await exchange.fetch_ohlcv("BTC/USDT:USDT", "1h", limit=3)
        finally:
            await exchange.close()
    assert ticker["last"] == 50000.0 and len(candles) == 3
    assert ("GET", "/fapi/v1/exchangeInfo") in account.requests


def test_an_exchange_pointed_off_this_machine_is_never_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADELOOP_EXCHANGE_URL_BINANCE", "http://203.0.113.7:80")
    with pytest.raises(ConfigError, match="only loopback"):
        build_exchange(ExchangeKey("binance", MarketType.PERPETUAL, testnet=True))
