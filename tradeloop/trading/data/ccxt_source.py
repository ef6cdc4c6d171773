"""Live public market data from a ccxt venue: closed candles, last price, funding, open interest."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.data.exchanges import (
    ExchangeHandle,
    ExchangeKey,
    get_exchange,
    translate_ccxt_errors,
)
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.errors import ConfigError, MarketDataUnavailable
from tradeloop.trading.models import Candle, InstrumentRef, MarketType
from tradeloop.trading.utils import normalize_symbol, parse_interval_seconds, to_ccxt_symbol

logger = logging.getLogger(__name__)


class CcxtMarketDataSource(BaseMarketDataSource):
    """Public data only, from the process-wide shared exchange (or an injected one)."""

    def __init__(
        self,
        exchange_id: str = "binance",
        market_type: MarketType = MarketType.SPOT,
        testnet: bool = False,
        clock: Clock | None = None,
        exchange: Any = None,
    ) -> None:
        self._key = ExchangeKey(exchange_id, MarketType(market_type), testnet)
        self._clock: Clock = clock or SystemClock()
        self._injected = ExchangeHandle(exchange, self._key.venue) if exchange is not None else None

    @property
    def _perpetual(self) -> bool:
        return self._key.market_type is MarketType.PERPETUAL

    async def get_recent_candles(
        self, symbols: list[str], interval: str, lookback: int
    ) -> list[Candle]:
        exchange = await self._exchange()
        self._check_timeframe(exchange, interval)
        per_symbol = await asyncio.gather(
            *(self._closed_candles(exchange, s, interval, lookback) for s in symbols)
        )
        return [candle for candles in per_symbol for candle in candles]

    async def get_market_snapshot(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        exchange = await self._exchange()
        entries = await asyncio.gather(*(self._snapshot(exchange, s) for s in symbols))
        return {_canonical(s): entry for s, entry in zip(symbols, entries, strict=True)}

    async def _exchange(self) -> Any:
        if self._injected is not None:
            return await self._injected.ready()
        return await get_exchange(self._key)

    def _check_timeframe(self, exchange: Any, interval: str) -> None:
        """An unknown timeframe is a config mistake; the venue would answer with a vague error."""
        timeframes = getattr(exchange, "timeframes", None) or {}
        if timeframes and interval not in timeframes:
            offered = ", ".join(sorted(timeframes, key=_interval_sort_key))
            raise ConfigError(f"{self._key.venue} has no {interval} candles; it offers {offered}")

    async def _closed_candles(
        self, exchange: Any, symbol: str, interval: str, lookback: int
    ) -> list[Candle]:
        symbol = _canonical(symbol)
        with translate_ccxt_errors(self._key.venue, symbol=symbol, exchange=exchange):
            rows = await exchange.fetch_ohlcv(
                to_ccxt_symbol(symbol, perpetual=self._perpetual),
                timeframe=interval,
                limit=lookback + 1,
            )
        closed = _closed_rows(rows, parse_interval_seconds(interval) * 1000, self._clock.now_ms())
        instrument = InstrumentRef(symbol=symbol, exchange_id=self._key.exchange_id)
        return [_candle(row, instrument, interval) for row in closed[-lookback:]]

    async def _snapshot(self, exchange: Any, symbol: str) -> dict[str, Any]:
        symbol = _canonical(symbol)
        market = to_ccxt_symbol(symbol, perpetual=self._perpetual)
        with translate_ccxt_errors(self._key.venue, symbol=symbol, exchange=exchange):
            ticker, funding, interest = await asyncio.gather(
                exchange.fetch_ticker(market),
                self._optional(exchange, "fetchFundingRate", exchange.fetch_funding_rate, market),
                self._optional(exchange, "fetchOpenInterest", exchange.fetch_open_interest, market),
            )
        price = ticker.get("last") or ticker.get("close")
        if price is None:
            raise MarketDataUnavailable(f"{self._key.venue} returned no price for {symbol}")
        entry: dict[str, Any] = {"price": float(price)}
        if isinstance(ticker.get("timestamp"), int):
            entry["ts"] = ticker["timestamp"]
        _put_number(entry, "funding_rate", (funding or {}).get("fundingRate"))
        _put_number(entry, "open_interest", (interest or {}).get("openInterestAmount"))
        return entry

    async def _optional(self, exchange: Any, capability: str, fetch: Any, market: str) -> Any:
        """Funding and open interest exist only for perpetuals, and only where the venue has them.
        A failing read leaves that feature out (with a warning) instead of failing the cycle;
        rejected credentials still fail it."""
        import ccxt  # lazy: ccxt costs seconds; replayed and CSV data never need it

        if not self._perpetual or not exchange.has.get(capability):
            return None
        try:
            return await fetch(market)
        except ccxt.AuthenticationError:
            raise
        except ccxt.BaseError as exc:
            logger.warning(
                "%s: %s of %s failed (%s); the feature is left out of this cycle",
                self._key.venue,
                capability,
                market,
                type(exc).__name__,
            )
            return None


def _closed_rows(rows: list[list[Any]], interval_ms: int, now_ms: int) -> list[list[Any]]:
    """Venues include the candle still forming; it closes at open + interval."""
    complete = [row for row in rows if all(value is not None for value in row[:6])]
    if len(complete) < len(rows):
        logger.debug("dropped %d candles with missing values", len(rows) - len(complete))
    return [row for row in complete if int(row[0]) + interval_ms <= now_ms]


def _candle(row: list[Any], instrument: InstrumentRef, interval: str) -> Candle:
    ts, open_, high, low, close, volume = row[:6]
    return Candle(
        ts=int(ts),
        instrument=instrument,
        open=float(open_),
        high=float(high),
        low=float(low),
        close=float(close),
        volume=float(volume),
        interval=interval,
    )


def _put_number(entry: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        entry[key] = float(value)


def _canonical(symbol: str) -> str:
    try:
        return normalize_symbol(symbol)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _interval_sort_key(interval: str) -> tuple[int, str]:
    try:
        return parse_interval_seconds(interval), interval
    except ValueError:
        return 10**12, interval
