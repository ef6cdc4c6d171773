"""Builds a real ccxt exchange (through the production builder) answering from a fake venue."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.execution.fake_exchange.dialect import Dialect
from tests.execution.fake_exchange.engine import FakeAccount, FakeMarket
from tests.execution.fake_exchange.transport import answer_in_process
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.exchanges import ExchangeKey, build_exchange
from tradeloop.trading.execution.ccxt_trading import CCXTExecutionGateway, LiveOrderConfig
from tradeloop.trading.execution.intents import InMemoryIntentStore, IntentStore
from tradeloop.trading.models import MarketType
from tradeloop.trading.venues import venue_profile

SENTINEL_KEY = "SENTINEL-apikey-5c1e0d9a"
SENTINEL_SECRET = "SENTINEL-secret-8b72f4e1"
SENTINEL_PASSPHRASE = "SENTINEL-pass-41d0"
START_MS = 1_700_000_000_000

D = Decimal


def dialect_for(venue: str, account: FakeAccount) -> Dialect:
    if venue == "okx":
        from tests.execution.fake_exchange.okx import OkxDialect

        return OkxDialect(account)
    if venue == "bybit":
        from tests.execution.fake_exchange.bybit import BybitDialect

        return BybitDialect(account)
    from tests.execution.fake_exchange.binance import BinanceDialect

    return BinanceDialect(account)


def markets_for(venue: str, market_type: MarketType) -> dict[str, FakeMarket]:
    contract = market_type is MarketType.PERPETUAL
    if venue == "okx":
        suffix = "-SWAP" if contract else ""
        btc = FakeMarket(
            f"BTC-USDT{suffix}",
            "BTC",
            "USDT",
            D("50000"),
            contract=contract,
            contract_size=D("0.01") if contract else D(1),
            amount_step=D("0.01") if contract else D("0.00001"),
            min_amount=D("0.01") if contract else D("0.00001"),
            min_cost=D("0"),
        )
        eth = FakeMarket(
            f"ETH-USDT{suffix}",
            "ETH",
            "USDT",
            D("3000"),
            contract=contract,
            contract_size=D("0.1") if contract else D(1),
            amount_step=D("0.01") if contract else D("0.0001"),
            min_amount=D("0.01") if contract else D("0.0001"),
            min_cost=D("0"),
        )
        return {m.symbol_id: m for m in (btc, eth)}
    btc = FakeMarket(
        "BTCUSDT",
        "BTC",
        "USDT",
        D("50000"),
        contract=contract,
        amount_step=D("0.001") if contract else D("0.00001"),
        min_amount=D("0.001") if contract else D("0.00001"),
        min_cost=D("5"),
    )
    eth = FakeMarket(
        "ETHUSDT",
        "ETH",
        "USDT",
        D("3000"),
        contract=contract,
        amount_step=D("0.001") if contract else D("0.0001"),
        min_amount=D("0.001") if contract else D("0.0001"),
        min_cost=D("5"),
    )
    return {m.symbol_id: m for m in (btc, eth)}


def fake_account(
    venue: str = "binance",
    market_type: MarketType = MarketType.PERPETUAL,
    cash: Decimal = D("10000"),
    **extra: Any,
) -> FakeAccount:
    return FakeAccount(
        markets=markets_for(venue, market_type),
        api_key=SENTINEL_KEY,
        secret=SENTINEL_SECRET,
        passphrase=SENTINEL_PASSPHRASE if venue == "okx" else None,
        balances={"USDT": cash},
        **extra,
    )


def credentials(
    venue: str, *, secret: str = SENTINEL_SECRET, api_key: str = SENTINEL_KEY
) -> dict[str, str]:
    config = {"apiKey": api_key, "secret": secret}
    if venue == "okx":
        config["password"] = SENTINEL_PASSPHRASE
    return config


def fake_exchange(
    account: FakeAccount, venue: str, market_type: MarketType, creds: dict[str, str] | None = None
) -> tuple[Any, Dialect]:
    """A ccxt exchange built by the production builder (testnet), answered by the fake venue."""
    key = ExchangeKey(venue, market_type, testnet=True, account="test")
    exchange = build_exchange(key, creds or credentials(venue))
    fast_rate_limit(exchange)
    dialect = dialect_for(venue, account)
    return answer_in_process(exchange, dialect), dialect


def fast_rate_limit(exchange: Any) -> None:
    """Keep ccxt's own rate limiter in the path, refilled fast enough for tests."""
    exchange.rateLimit = 0.05
    exchange.tokenBucket = None
    exchange.init_rest_rate_limiter()
    exchange.timeout_on_exit = 0  # ccxt waits this long in close() for aiohttp; nothing to wait for


@dataclass
class Rig:
    account: FakeAccount
    dialect: Dialect
    exchange: Any
    gateway: CCXTExecutionGateway
    intents: IntentStore
    clock: SimulatedClock
    sleeps: list[float] = field(default_factory=list)

    async def close(self) -> None:
        await self.exchange.close()


async def open_rig(
    venue: str = "binance",
    market_type: MarketType = MarketType.PERPETUAL,
    *,
    account: FakeAccount | None = None,
    config: LiveOrderConfig | None = None,
    creds: dict[str, str] | None = None,
    intents: IntentStore | None = None,
    strategy_id: str = "s_live",
) -> Rig:
    account = account or fake_account(venue, market_type)
    exchange, dialect = fake_exchange(account, venue, market_type, creds)
    clock = SimulatedClock(START_MS)
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def ready() -> Any:
        if not exchange.markets:
            await exchange.load_markets()
        return exchange

    store = intents or InMemoryIntentStore()
    gateway = CCXTExecutionGateway(
        strategy_id=strategy_id,
        account=f"{venue}:{market_type.value}:test",
        venue=venue_profile(venue, market_type),
        exchange=ready,
        intents=store,
        clock=clock,
        config=config,
        sleep=record_sleep,
    )
    return Rig(account, dialect, exchange, gateway, store, clock, sleeps)
