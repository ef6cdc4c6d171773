"""Reads of one venue account for a live strategy: positions, balance and market rules (what
reconciliation compares the ledger with), and the retried ``read`` every venue query goes
through. Reads retry with exponential backoff on ``ccxt.NetworkError`` only; they never send an
order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ccxt

from tradeloop.trading.data.exchanges import translate_ccxt_errors
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.execution.live_config import LiveOrderConfig
from tradeloop.trading.execution.sizing import MarketRules
from tradeloop.trading.utils import to_ccxt_symbol, to_decimal
from tradeloop.trading.venues import VenueProfile

logger = logging.getLogger(__name__)

T = TypeVar("T")
ExchangeSource = Callable[[], Awaitable[Any]]
"""Returns the shared ccxt exchange for the account, markets loaded."""

ZERO = Decimal(0)


class AccountReads:
    """What the venue says about one strategy's account, read with retries."""

    def __init__(
        self,
        *,
        strategy_id: str,
        venue: VenueProfile,
        exchange: ExchangeSource,
        config: LiveOrderConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.strategy_id = strategy_id
        self.venue = venue
        self._exchange_source = exchange
        self.config = config
        self._sleep = sleep

    async def exchange(self) -> Any:
        with translate_ccxt_errors(self.venue.name):
            return await self._exchange_source()

    def market_symbol(self, symbol: str) -> str:
        return to_ccxt_symbol(symbol, perpetual=self.venue.perpetual)

    async def fetch_positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Signed base quantity per canonical symbol on the account (spot: total base balance).
        An unreachable venue raises ``TemporaryError``, rejected credentials ``OperationalError``."""
        exchange = await self.exchange()
        with translate_ccxt_errors(self.venue.name, exchange=exchange):
            return await self._positions(exchange, symbols)

    async def _positions(self, exchange: Any, symbols: Sequence[str]) -> dict[str, Decimal]:
        if not self.venue.perpetual:
            balance = await self.read(exchange, "fetch_balance", exchange.fetch_balance)
            totals = balance.get("total") or {}
            return {s: to_decimal(str(totals.get(s.split("-")[0]) or 0)) for s in symbols}
        markets = [self.market_symbol(s) for s in symbols]
        batches = [[m] for m in markets] if self.venue.positions_one_symbol_per_call else [markets]
        rows = []
        for batch in batches:
            rows += await self.read(
                exchange,
                "fetch_positions",
                lambda b=batch: exchange.fetch_positions(b),  # type: ignore[misc]
            )
        found = {s: ZERO for s in symbols}
        by_market = dict(zip(markets, symbols, strict=True))
        for row in rows:
            symbol = by_market.get(row.get("symbol"))
            if symbol is not None:
                found[symbol] += _position_base(row, exchange)
        return found

    async def fetch_cash(self, currency: str) -> tuple[Decimal, Decimal]:
        """(free, total) balance of ``currency`` on the account (errors as ``fetch_positions``)."""
        exchange = await self.exchange()
        with translate_ccxt_errors(self.venue.name, exchange=exchange):
            balance = await self.read(exchange, "fetch_balance", exchange.fetch_balance)
        free = (balance.get("free") or {}).get(currency)
        total = (balance.get("total") or {}).get(currency)
        return to_decimal(str(free or 0)), to_decimal(str(total or 0))

    async def market_rules(self, symbol: str) -> MarketRules:
        """The venue's rules for ``symbol`` (e.g. to give the guardrails ``Constraints`` in base
        units: ``rules.base_step``, ``rules.base_min_amount``, ``rules.min_cost``)."""
        exchange = await self.exchange()
        market = exchange.markets.get(self.market_symbol(symbol))
        if market is None:
            raise ConfigError(f"{self.venue.name} has no market {self.market_symbol(symbol)}")
        market_order = self.config.order_type == "market"
        return MarketRules.from_ccxt(market, exchange.precisionMode, market_order=market_order)

    async def read(self, exchange: Any, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, retried with exponential backoff on ``ccxt.NetworkError`` only."""
        attempts = self.config.read_attempts
        for attempt in range(attempts):
            try:
                return await call()
            except ccxt.NetworkError as exc:
                if attempt + 1 >= attempts:
                    raise
                slow = isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection)
                delay = self.config.backoff(attempt) * (4 if slow else 1)
                logger.warning(
                    "strategy_id=%s %s: %s failed (%s), retry %d/%d in %.2fs",
                    self.strategy_id,
                    self.venue.name,
                    what,
                    type(exc).__name__,
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                await self._sleep(delay)
        raise AssertionError("unreachable")


def describe_error(exc: BaseException, exchange: Any) -> str:
    """The exception's type and message, with the account's credentials scrubbed, for reasons."""
    text = f"{type(exc).__name__}: {exc}"
    for name in ("apiKey", "secret", "password", "uid"):
        value = getattr(exchange, name, None)
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text[:300]


def _position_base(row: Mapping[str, Any], exchange: Any) -> Decimal:
    contracts = to_decimal(str(row.get("contracts") or 0))
    market = exchange.markets.get(row.get("symbol")) or {}
    size = to_decimal(str(row.get("contractSize") or market.get("contractSize") or 1))
    sign = Decimal(-1) if row.get("side") == "short" else Decimal(1)
    return sign * abs(contracts) * size
