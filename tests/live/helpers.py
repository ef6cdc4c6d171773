"""Live-test helpers: a gated request, and a fake venue registered as the process-wide exchange."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.execution.fake_exchange.engine import FakeAccount
from tests.execution.harness import (
    SENTINEL_KEY,
    SENTINEL_PASSPHRASE,
    SENTINEL_SECRET,
    fake_exchange,
)
from tradeloop.trading.data.exchanges import ExchangeKey, close_all, register_exchange
from tradeloop.trading.models import MarketType, UserRequest

LIVE_ENV = {
    "TRADELOOP_MAIN_API_KEY": SENTINEL_KEY,
    "TRADELOOP_MAIN_SECRET": SENTINEL_SECRET,
    "TRADELOOP_MAIN_PASSPHRASE": SENTINEL_PASSPHRASE,
}


def live_request(
    *,
    exchange_id: str = "binance",
    market_type: str = "perpetual",
    symbols: list[str] | None = None,
    max_leverage: float = 3.0,
    testnet: bool = True,
    **trading: Any,
) -> UserRequest:
    return UserRequest.model_validate(
        {
            "exchange_config": {
                "trading_mode": "live",
                "exchange_id": exchange_id,
                "market_type": market_type,
                "testnet": testnet,
                "credentials_name": "main",
            },
            "trading_config": {
                "initial_capital": 1_000_000,  # a cap: the account's available cash is less
                "symbols": symbols or ["BTC-USDT"],
                # hourly: no scheduled slot fires on the wall clock while a test runs its cycles
                "decide_interval": 3600,
                "max_leverage": max_leverage if market_type == "perpetual" else 1.0,
                **trading,
            },
        }
    )


@asynccontextmanager
async def registered_fake(
    account: FakeAccount, venue: str, market_type: MarketType, credentials_name: str
) -> AsyncIterator[Any]:
    """The registry's instance for this account is a real ccxt exchange answering from the fake."""
    exchange, _ = fake_exchange(account, venue, market_type)
    register_exchange(ExchangeKey(venue, market_type, True, account=credentials_name), exchange)
    try:
        yield exchange
    finally:
        await close_all()
