"""The ccxt market data source, driven through ccxt's real parsing by a Binance that answers offline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlparse

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.ccxt_source import CcxtMarketDataSource
from tradeloop.trading.data.exchanges import (
    ExchangeKey,
    ExchangeRegistry,
    build_exchange,
    translate_ccxt_errors,
)
from tradeloop.trading.errors import ConfigError, MarketDataUnavailable, OperationalError
from tradeloop.trading.features import DefaultFeaturesPipeline
from tradeloop.trading.features.indicators import synthetic_candles
from tradeloop.trading.models import MarketType, UserRequest

HOUR_MS = 3_600_000
T0 = 1_713_229_200_000  # 2024-04-16 01:00 UTC, a candle open time
API_KEY = "k3yThatMustNeverLeak"

MARKETS = [
    {
        "id": "BTCUSDT",
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "baseId": "BTC",
        "quoteId": "USDT",
        "type": "spot",
        "spot": True,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "active": True,
    },
    {
        "id": "BTCUSDT",
        "symbol": "BTC/USDT:USDT",
        "base": "BTC",
        "quote": "USDT",
        "settle": "USDT",
        "baseId": "BTC",
        "quoteId": "USDT",
        "settleId": "USDT",
        "type": "swap",
        "spot": False,
        "swap": True,
        "future": False,
        "option": False,
        "contract": True,
        "linear": True,
        "inverse": False,
        "contractSize": 1,
        "active": True,
    },
]


def hourly_rows(n: int) -> list[tuple[int, float, float, float, float, float]]:
    frame = synthetic_candles(n)
    return [
        (T0 + i * HOUR_MS, r.open, r.high, r.low, r.close, r.volume)
        for i, r in enumerate(frame.itertuples())
    ]


class OfflineBinance(ccxt_async.binance):
    """Answers like Binance's REST API from scripted candles; ``fail`` replaces the answer."""

    def __init__(
        self, clock: SimulatedClock, rows: list[tuple], config: dict | None = None
    ) -> None:
        super().__init__(config or {})
        self.clock = clock
        self.rows = rows
        self.fail: Any = None
        self.paths: list[tuple[str, dict[str, str]]] = []
        self.set_markets(MARKETS)

    async def fetch(self, url, method="GET", headers=None, body=None):
        parsed = urlparse(url)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        self.paths.append((parsed.path, query))
        if isinstance(self.fail, Exception):
            raise self.fail
        if isinstance(self.fail, tuple):  # (http status, Binance error body): ccxt maps it
            status, error = self.fail
            text = json.dumps(error)
            self.handle_errors(status, "Error", url, method, {}, text, error, {}, body)
            self.handle_http_status_code(status, "Error", url, method, text)
        return self._answer(parsed.path, query)

    def _answer(self, path: str, query: dict[str, str]) -> Any:
        if path.endswith("/klines"):
            return self._klines(query["interval"], int(query["limit"]))
        if path.endswith("/ticker/24hr"):
            return self._ticker()
        if path.endswith("/premiumIndex"):
            return {
                "symbol": "BTCUSDT",
                "markPrice": "64001.10",
                "indexPrice": "64000.00",
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": self.clock.now_ms() + HOUR_MS,
                "time": self.clock.now_ms(),
            }
        if path.endswith("/openInterest"):
            return {"openInterest": "81234.567", "symbol": "BTCUSDT", "time": self.clock.now_ms()}
        raise AssertionError(f"unexpected request {path}")

    def _klines(self, interval: str, limit: int) -> list[list[Any]]:
        assert interval == "1h"
        started = [r for r in self.rows if r[0] <= self.clock.now_ms()][-limit:]
        return [
            [ts, f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", f"{v:.8f}", ts + HOUR_MS - 1,
             f"{c * v:.8f}", 100, f"{v / 2:.8f}", f"{c * v / 2:.8f}", "0"]
            for ts, o, h, lo, c, v in started
        ]  # fmt: skip

    def _ticker(self) -> dict[str, Any]:
        now = self.clock.now_ms()
        return {
            "symbol": "BTCUSDT",
            "priceChange": "-94.99",
            "priceChangePercent": "-0.148",
            "weightedAvgPrice": "64050.12",
            "prevClosePrice": "64100.00",
            "lastPrice": "64005.01",
            "lastQty": "0.01200000",
            "bidPrice": "64005.00",
            "bidQty": "1.2",
            "askPrice": "64005.01",
            "askQty": "0.8",
            "openPrice": "64100.00",
            "highPrice": "64999.00",
            "lowPrice": "63001.00",
            "volume": "15234.1",
            "quoteVolume": "975000000.1",
            "openTime": now - 24 * HOUR_MS,
            "closeTime": now,
            "firstId": 1,
            "lastId": 2,
            "count": 2,
        }


def spot_source(
    now_ms: int, rows: list[tuple] | None = None
) -> tuple[CcxtMarketDataSource, OfflineBinance]:
    clock = SimulatedClock(now_ms)
    exchange = OfflineBinance(clock, rows if rows is not None else hourly_rows(300))
    return CcxtMarketDataSource(
        "binance", MarketType.SPOT, clock=clock, exchange=exchange
    ), exchange


def perpetual_source(now_ms: int) -> tuple[CcxtMarketDataSource, OfflineBinance]:
    clock = SimulatedClock(now_ms)
    options = {"options": {"defaultType": "swap", "defaultSubType": "linear"}}
    exchange = OfflineBinance(clock, hourly_rows(300), options)
    source = CcxtMarketDataSource("binance", MarketType.PERPETUAL, clock=clock, exchange=exchange)
    return source, exchange


async def test_recent_candles_are_parsed_by_ccxt_and_exclude_the_candle_still_forming() -> None:
    now = T0 + 250 * HOUR_MS + 17 * 60_000  # candle 250 opened 17 minutes ago
    source, exchange = spot_source(now)
    candles = await source.get_recent_candles(["BTC-USDT"], "1h", 100)
    assert len(candles) == 100
    assert candles[-1].ts == T0 + 249 * HOUR_MS
    assert all(c.ts + HOUR_MS <= now for c in candles)
    assert [c.ts for c in candles] == sorted(c.ts for c in candles)
    assert exchange.paths[-1] == (
        "/api/v3/klines",
        {"interval": "1h", "limit": "101", "symbol": "BTCUSDT"},
    )
    first = exchange.rows[150]
    assert (candles[0].open, candles[0].close) == (round(first[1], 8), round(first[4], 8))
    assert (
        candles[0].instrument.symbol == "BTC-USDT"
        and candles[0].instrument.exchange_id == "binance"
    )


async def test_a_candle_counts_as_closed_exactly_at_its_close_time() -> None:
    source, _ = spot_source(T0 + 10 * HOUR_MS)
    candles = await source.get_recent_candles(["BTC/USDT"], "1h", 500)
    assert [c.ts for c in candles] == [T0 + i * HOUR_MS for i in range(10)]


async def test_spot_snapshot_has_the_last_price_and_no_perpetual_fields() -> None:
    source, exchange = spot_source(T0 + 10 * HOUR_MS)
    snapshot = await source.get_market_snapshot(["BTC-USDT"])
    assert snapshot["BTC-USDT"]["price"] == 64005.01
    assert set(snapshot["BTC-USDT"]) <= {"price", "ts"}
    assert [path for path, _ in exchange.paths] == ["/api/v3/ticker/24hr"]


async def test_perpetual_snapshot_adds_funding_rate_and_open_interest() -> None:
    source, exchange = perpetual_source(T0 + 10 * HOUR_MS)
    snapshot = await source.get_market_snapshot(["BTC-USDT"])
    assert snapshot["BTC-USDT"]["price"] == 64005.01
    assert snapshot["BTC-USDT"]["funding_rate"] == 0.0001
    assert snapshot["BTC-USDT"]["open_interest"] == 81234.567
    assert {path for path, _ in exchange.paths} == {
        "/fapi/v1/ticker/24hr",
        "/fapi/v1/premiumIndex",
        "/fapi/v1/openInterest",
    }


async def test_a_failing_open_interest_read_leaves_that_feature_out_and_keeps_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, exchange = perpetual_source(T0 + 10 * HOUR_MS)
    answer = exchange._answer

    def no_open_interest(path: str, query: dict[str, str]) -> Any:
        if path.endswith("/openInterest"):
            raise ccxt.ExchangeNotAvailable("binance GET /fapi/v1/openInterest 503")
        return answer(path, query)

    exchange._answer = no_open_interest  # type: ignore[method-assign]
    snapshot = await source.get_market_snapshot(["BTC-USDT"])
    assert snapshot["BTC-USDT"]["price"] == 64005.01
    assert snapshot["BTC-USDT"]["funding_rate"] == 0.0001
    assert "open_interest" not in snapshot["BTC-USDT"]
    assert "fetchOpenInterest" in caplog.text and "left out" in caplog.text


async def test_an_unreachable_venue_is_temporary_and_the_message_hides_the_api_key() -> None:
    source, exchange = spot_source(T0 + 10 * HOUR_MS)
    exchange.apiKey = API_KEY
    exchange.fail = ccxt.RequestTimeout(f"binance GET https://api.binance.com/x?apiKey={API_KEY}")
    with pytest.raises(
        MarketDataUnavailable, match=r"binance spot did not answer in time \(api.binance.com\)"
    ) as info:
        await source.get_recent_candles(["BTC-USDT"], "1h", 10)
    assert API_KEY not in str(info.value) and "***" in str(info.value)
    assert info.value.__cause__ is None


async def test_rate_limiting_by_the_venue_is_temporary() -> None:
    source, exchange = spot_source(T0 + 10 * HOUR_MS)
    exchange.fail = (429, {"code": -1003, "msg": "Too much request weight used"})
    with pytest.raises(MarketDataUnavailable, match="is limiting our requests"):
        await source.get_market_snapshot(["BTC-USDT"])


async def test_a_symbol_the_venue_does_not_list_is_a_config_error_naming_it() -> None:
    source, _ = spot_source(T0 + 10 * HOUR_MS)
    with pytest.raises(ConfigError, match="binance spot has no market DOGE-USDT"):
        await source.get_recent_candles(["DOGE-USDT"], "1h", 10)


async def test_rejected_credentials_are_operational_and_do_not_echo_the_key() -> None:
    source, exchange = spot_source(T0 + 10 * HOUR_MS)
    exchange.apiKey = API_KEY
    exchange.fail = (401, {"code": -2015, "msg": f"Invalid API-key {API_KEY}, IP, or permissions"})
    with pytest.raises(OperationalError, match="rejected the API credentials") as info:
        await source.get_market_snapshot(["BTC-USDT"])
    assert API_KEY not in str(info.value)


async def test_an_interval_the_venue_does_not_offer_is_a_config_error_listing_what_it_offers() -> (
    None
):
    source, exchange = spot_source(T0 + 10 * HOUR_MS)
    with pytest.raises(ConfigError, match=r"no 7m candles; it offers 1s, 1m, 3m"):
        await source.get_recent_candles(["BTC-USDT"], "7m", 10)
    assert exchange.paths == []


async def test_the_default_pipeline_runs_on_the_ccxt_source_end_to_end() -> None:
    source, exchange = perpetual_source(T0 + 300 * HOUR_MS)
    request = UserRequest.model_validate(
        {
            "exchange_config": {"market_type": "perpetual"},
            "trading_config": {
                "initial_capital": 1000,
                "symbols": ["BTC-USDT"],
                "feature_intervals": ["1h"],
            },
        }
    )
    result = await DefaultFeaturesPipeline(
        request, market_data=source, clock=exchange.clock
    ).build()
    candles, snapshot = result.features
    assert candles.meta and candles.meta["group_by_key"] == "candles_1h"
    assert candles.ts == T0 + 300 * HOUR_MS
    assert {"rsi", "macd", "atr", "ema_50"} <= set(candles.values)
    assert snapshot.values == {
        "price": 64005.01,
        "funding_rate": 0.0001,
        "open_interest": 81234.567,
    }


class CountingBinance(OfflineBinance):
    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(clock, [])
        self.markets = None  # as if freshly built: markets must be loaded
        self.loads = 0
        self.closed = False

    async def load_markets(self, reload=False, params=None):
        self.loads += 1
        await asyncio.sleep(0)  # yield, so that concurrent callers really overlap
        self.set_markets(MARKETS)
        return self.markets

    async def close(self) -> None:
        self.closed = True


async def test_the_registry_shares_one_instance_per_key_and_loads_markets_once() -> None:
    registry = ExchangeRegistry()
    key = ExchangeKey("binance", MarketType.SPOT)
    exchange = CountingBinance(SimulatedClock(T0))
    registry.register(key, exchange)
    got = await asyncio.gather(*(registry.get(key) for _ in range(5)))
    assert all(g is exchange for g in got)
    assert exchange.loads == 1
    await registry.close_all()
    assert exchange.closed


async def test_different_market_types_get_different_instances() -> None:
    registry = ExchangeRegistry()
    spot, perpetual = CountingBinance(SimulatedClock(T0)), CountingBinance(SimulatedClock(T0))
    registry.register(ExchangeKey("binance", MarketType.SPOT), spot)
    registry.register(ExchangeKey("binance", MarketType.PERPETUAL), perpetual)
    assert await registry.get(ExchangeKey("binance", MarketType.PERPETUAL)) is perpetual
    assert await registry.get(ExchangeKey("binance", MarketType.SPOT)) is spot
    await registry.close_all()


async def test_a_testnet_perpetual_exchange_is_rate_limited_sandboxed_and_linear() -> None:
    exchange = build_exchange(ExchangeKey("bybit", MarketType.PERPETUAL, testnet=True))
    try:
        assert exchange.enableRateLimit is True
        assert exchange.options["defaultType"] == "swap"
        assert exchange.options["defaultSubType"] == "linear"
        assert exchange.options["fetchMarkets"]["types"] == ["linear"]
        assert "testnet" in json.dumps(exchange.urls["api"])
    finally:
        await exchange.close()


def test_an_unknown_exchange_id_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'nowhere' is not an exchange ccxt knows"):
        build_exchange(ExchangeKey("nowhere"))


def test_credentials_without_an_account_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="account name"):
        build_exchange(ExchangeKey("binance"), {"apiKey": API_KEY, "secret": "s3cr3tValue"})


def test_errors_that_are_not_from_ccxt_pass_through_untouched() -> None:
    with pytest.raises(KeyError), translate_ccxt_errors("binance spot"):
        raise KeyError("x")


def test_importing_the_data_and_features_packages_does_not_import_ccxt() -> None:
    code = (
        "import sys, tradeloop.trading.data, tradeloop.trading.features; "
        "print('ccxt' in sys.modules, 'pandas_ta' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
