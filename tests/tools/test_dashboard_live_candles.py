"""The price chart of a strategy on live market data: candles come from the venue's public
candles (here a stand-in ccxt exchange, offline), and a venue that cannot be reached leaves the
chart on cycle prices with the reason, after one try."""

from __future__ import annotations

import time

import ccxt
import pytest
from mcp import Client

from tests.tools.conftest import ok
from tradeloop.server.app import build_server
from tradeloop.trading.data.exchanges import ExchangeKey, close_all, register_exchange
from tradeloop.trading.utils import parse_interval_seconds

BASE = {"BTC/USDT": 60_000.0, "ETH/USDT": 3_000.0}


class CandleVenue:
    """A ccxt exchange's public side: listed markets, a ticker, and candles that are a
    function of (market, open time), up to and including the one still forming."""

    def __init__(self) -> None:
        self.markets = {m: {"symbol": m} for m in BASE}
        self.has: dict[str, bool] = {}
        self.down = False
        self.ohlcv_calls = 0

    @staticmethod
    def row(market: str, open_ms: int) -> list[float]:
        step = (open_ms // 60_000) % 97
        base = BASE[market] * (1 + step / 1000)
        return [open_ms, base, base * 1.01, base * 0.99, base * 1.002, 10.0]

    async def load_markets(self) -> dict:
        return self.markets

    async def fetch_ohlcv(self, market: str, timeframe: str = "1h", limit: int = 100, **_) -> list:
        self.ohlcv_calls += 1
        if self.down:
            raise ccxt.NetworkError("binance GET https://api.binance.com/api/v3/klines timed out")
        width = parse_interval_seconds(timeframe) * 1000
        forming = int(time.time() * 1000) // width * width
        return [self.row(market, forming - k * width) for k in reversed(range(limit))]

    async def fetch_ticker(self, market: str) -> dict:
        return {"last": BASE[market], "timestamp": int(time.time() * 1000)}

    async def fetch_funding_rate(self, market: str) -> dict:  # perpetuals only: never asked
        raise AssertionError("a spot strategy reads no funding rate")

    async def fetch_open_interest(self, market: str) -> dict:
        raise AssertionError("a spot strategy reads no open interest")

    async def close(self) -> None:
        return None


@pytest.fixture
async def venue():
    fake = CandleVenue()
    register_exchange(ExchangeKey("binance"), fake)
    yield fake
    await close_all()


async def test_a_live_strategys_chart_candles_are_the_venues_closed_candles(
    settings, venue: CandleVenue
) -> None:
    async with Client(build_server(settings)) as client:
        sid = (await ok(client, "create_strategy", symbols=["BTC-USDT"], initial_capital=1000))[
            "strategy_id"
        ]
        first = await ok(client, "run_cycle_now", strategy_id=sid)
        charted = await ok(client, "get_chart_series", strategy_id=sid)
    assert charted["candle_interval"] == "1h", charted["candles_note"]
    [btc] = charted["candles"]
    hour = 3_600_000
    last_open = first["ts"] // hour * hour - hour  # the newest candle closed by the cycle
    assert btc["bars"][-1] == [last_open, *CandleVenue.row("BTC/USDT", last_open)[1:5]]
    assert all(bar[0] + hour <= first["ts"] for bar in btc["bars"])


async def test_an_unreachable_venue_leaves_the_chart_on_cycle_prices_after_one_try(
    settings, venue: CandleVenue
) -> None:
    async with Client(build_server(settings)) as client:
        sid = (await ok(client, "create_strategy", symbols=["BTC-USDT"], initial_capital=1000))[
            "strategy_id"
        ]
        await ok(client, "run_cycle_now", strategy_id=sid)
        venue.down, venue.ohlcv_calls = True, 0
        charted = await ok(client, "get_chart_series", strategy_id=sid)
    assert charted["candles"] == [] and charted["candle_interval"] is None
    assert "could not be reached" in charted["candles_note"]
    assert venue.ohlcv_calls == 1  # not once per chart interval
    assert [p["symbol"] for p in charted["prices"]] == ["BTC-USDT"]
