"""One shared ccxt exchange per venue and account, and the one place ccxt errors are translated.

ccxt is imported inside functions only: importing tradeloop (and starting the server) must not pay
for it. Sharing one instance per ``ExchangeKey`` lets ccxt's rate limiter see every request we
send to a venue, and loads the (large) market list once per process.

``translate_ccxt_errors`` maps ccxt's exception tree onto ours:

    ccxt.NetworkError (ExchangeNotAvailable, RequestTimeout,
                       DDoSProtection, RateLimitExceeded, ...)  -> MarketDataUnavailable  retry next cycle
      caused by a DNS failure or a refused connection          -> NetworkDown  (names the host;
                                                                  the machine may be offline)
    ccxt.BadResponse, any other ccxt.ExchangeError             -> MarketDataUnavailable
    ccxt.BadSymbol                                             -> ConfigError            fix the symbol
    ccxt.NotSupported                                          -> ConfigError
    ccxt.AuthenticationError (PermissionDenied, ...)           -> OperationalError       stop the strategy

Messages never carry credentials: they are scrubbed, and when an exchange holds credentials the
original ccxt exception is not chained either.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tradeloop.trading.data.exchange_urls import base_url_override, point_at
from tradeloop.trading.errors import (
    ConfigError,
    MarketDataUnavailable,
    NetworkDown,
    OperationalError,
    TradeloopError,
)
from tradeloop.trading.models import MarketType
from tradeloop.trading.venues import select_testnet

logger = logging.getLogger(__name__)

_MARKET_TYPE_OPTIONS: dict[MarketType, dict[str, str]] = {
    MarketType.SPOT: {"defaultType": "spot"},
    MarketType.PERPETUAL: {"defaultType": "swap", "defaultSubType": "linear"},
}

_FETCH_MARKETS_TYPES: dict[tuple[str, MarketType], list[str]] = {
    ("binance", MarketType.SPOT): ["spot"],
    ("binance", MarketType.PERPETUAL): ["linear"],
    ("bybit", MarketType.SPOT): ["spot"],
    ("bybit", MarketType.PERPETUAL): ["linear"],
}
"""Venues whose ``load_markets`` can skip the market types we never trade (its slowest request)."""

_SECRET_ATTRIBUTES = ("apiKey", "secret", "password", "uid", "privateKey", "token")
_MAX_DETAIL_CHARS = 300


@dataclass(frozen=True, slots=True)
class ExchangeKey:
    """What makes two exchange instances different; everything else is shared."""

    exchange_id: str
    market_type: MarketType = MarketType.SPOT
    testnet: bool = False
    account: str | None = None

    @property
    def venue(self) -> str:
        """Human name used in error messages, e.g. ``binance perpetual (testnet)``."""
        return f"{self.exchange_id} {self.market_type.value}" + (
            " (testnet)" if self.testnet else ""
        )


class ExchangeHandle:
    """A ccxt exchange whose markets are loaded at most once, however many tasks ask at once."""

    def __init__(self, exchange: Any, venue: str) -> None:
        self.exchange = exchange
        self.venue = venue
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def usable_here(self) -> bool:
        """ccxt's HTTP session belongs to one event loop; a handle from another loop is stale."""
        return self._loop is None or self._loop is asyncio.get_running_loop()

    async def ready(self) -> Any:
        """The exchange, with its markets loaded (lazily, once)."""
        self._loop = asyncio.get_running_loop()
        if self.exchange.markets:
            return self.exchange
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.exchange.markets:
                with translate_ccxt_errors(self.venue, exchange=self.exchange):
                    await self.exchange.load_markets()
                logger.info("%s: loaded %d markets", self.venue, len(self.exchange.markets))
        return self.exchange

    async def close(self) -> None:
        await self.exchange.close()


class ExchangeRegistry:
    """Exchange instances by ``ExchangeKey``; the process uses the module-level one."""

    def __init__(self) -> None:
        self._handles: dict[ExchangeKey, ExchangeHandle] = {}

    def register(self, key: ExchangeKey, exchange: Any) -> None:
        """Use a pre-built instance for ``key`` (tests: a ccxt subclass answering offline)."""
        self._handles[key] = ExchangeHandle(exchange, key.venue)

    async def get(self, key: ExchangeKey, credentials: Mapping[str, str] | None = None) -> Any:
        """The shared instance for ``key``, markets loaded; built on first use."""
        handle = self._handles.get(key)
        if handle is not None and not handle.usable_here():
            logger.warning("%s: dropping an exchange bound to another event loop", key.venue)
            handle = None
        if handle is None:
            handle = ExchangeHandle(build_exchange(key, credentials), key.venue)
            self._handles[key] = handle
        return await handle.ready()

    async def close_all(self) -> None:
        """Close every instance this event loop can close; forget the rest."""
        handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            if handle.usable_here():
                await handle.close()


_REGISTRY = ExchangeRegistry()


async def get_exchange(key: ExchangeKey, credentials: Mapping[str, str] | None = None) -> Any:
    """The process-wide shared ccxt exchange for ``key``, with markets loaded."""
    return await _REGISTRY.get(key, credentials)


def register_exchange(key: ExchangeKey, exchange: Any) -> None:
    """Make ``exchange`` the process-wide instance for ``key``."""
    _REGISTRY.register(key, exchange)


async def close_all() -> None:
    """Close the process-wide exchanges (server shutdown, end of a test)."""
    await _REGISTRY.close_all()


def build_exchange(key: ExchangeKey, credentials: Mapping[str, str] | None = None) -> Any:
    """A new ``ccxt.async_support`` instance configured for ``key`` (no network traffic)."""
    import ccxt.async_support as ccxt_async  # lazy: ccxt costs seconds; see the docstring

    if key.exchange_id not in ccxt_async.exchanges:
        raise ConfigError(f"exchange_id {key.exchange_id!r} is not an exchange ccxt knows")
    if credentials and key.account is None:
        raise ConfigError("credentials need an account name, so accounts never share an instance")
    options: dict[str, Any] = dict(_MARKET_TYPE_OPTIONS[key.market_type])
    market_types = _FETCH_MARKETS_TYPES.get((key.exchange_id, key.market_type))
    if market_types:
        options["fetchMarkets"] = {"types": market_types}
    config = {"enableRateLimit": True, "options": options, **dict(credentials or {})}
    exchange = getattr(ccxt_async, key.exchange_id)(config)
    if key.testnet:
        with translate_ccxt_errors(key.venue, exchange=exchange):
            select_testnet(exchange, key.exchange_id, key.market_type)
    base_url = base_url_override(key.exchange_id)
    if base_url is not None:
        point_at(exchange, base_url)
    return exchange


@contextmanager
def translate_ccxt_errors(
    venue: str, *, symbol: str | None = None, exchange: Any = None
) -> Iterator[None]:
    """Turn ccxt exceptions raised inside the block into tradeloop ones (see module docstring)."""
    import ccxt  # lazy: ccxt costs seconds; see the docstring

    try:
        yield
    except ccxt.BaseError as exc:
        secrets = _secrets_of(exchange)
        raise _translate(exc, venue, symbol, secrets) from (None if secrets else exc)


def _translate(
    exc: Exception, venue: str, symbol: str | None, secrets: list[str]
) -> TradeloopError:
    import ccxt  # lazy: ccxt costs seconds; see the docstring

    if isinstance(exc, ccxt.BadSymbol):
        return ConfigError(f"{venue} has no market {symbol or '(symbol not given)'}")
    if isinstance(exc, ccxt.AuthenticationError):
        return OperationalError(f"{venue} rejected the API credentials ({type(exc).__name__})")
    detail = _describe(exc, secrets)
    if isinstance(exc, ccxt.NotSupported):
        return ConfigError(f"{venue} does not support this request: {detail}")
    if isinstance(exc, ccxt.NetworkError):
        return unreachable(exc, venue, detail)
    return MarketDataUnavailable(f"{venue} returned an error: {detail}")


def unreachable(exc: Exception, venue: str, detail: str) -> MarketDataUnavailable:
    """Say what was tried and the likely cause: a host name that does not resolve or a refused
    connection means this machine's network (or DNS) is down, so "try again shortly" would
    mislead; a timeout or a 5xx answer is the exchange's side, and usually passes."""
    import aiohttp  # lazy, as ccxt (which brings it): see the docstring
    import ccxt  # lazy: ccxt costs seconds; see the docstring

    tried = _host_of(str(exc)) or venue
    causes = list(_causes(exc))
    if any(isinstance(c, aiohttp.ClientConnectorDNSError | socket.gaierror) for c in causes):
        return NetworkDown(
            f"{venue} could not be reached: the host name {tried} did not resolve (DNS lookup "
            "failed). This machine may be offline or its DNS down; check its network "
            "connection, then try again"
        )
    refused = next((c for c in causes if isinstance(c, aiohttp.ClientConnectorError)), None)
    if refused is not None:
        why = getattr(refused, "strerror", None) or type(refused).__name__
        return NetworkDown(
            f"{venue} could not be reached: connecting to {tried} failed ({why}). The network "
            "may be down, or a firewall or proxy blocks it; check this machine's connection, "
            "then try again"
        )
    if isinstance(exc, ccxt.RequestTimeout):
        return MarketDataUnavailable(f"{venue} did not answer in time ({tried}): {detail}")
    if isinstance(exc, ccxt.DDoSProtection):  # RateLimitExceeded is one
        return MarketDataUnavailable(f"{venue} is limiting our requests ({tried}): {detail}")
    return MarketDataUnavailable(f"{venue} could not be reached ({tried}): {detail}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _host_of(text: str) -> str | None:
    match = re.search(r"https?://([^/\s:]+)", text)
    return match.group(1) if match else None


def _describe(exc: Exception, secrets: list[str]) -> str:
    text = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:_MAX_DETAIL_CHARS]


def _secrets_of(exchange: Any) -> list[str]:
    values = (getattr(exchange, name, None) for name in _SECRET_ATTRIBUTES)
    return [value for value in values if isinstance(value, str) and len(value) >= 4]
