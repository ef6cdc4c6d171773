"""Feature tools: compute features for any symbols without a strategy, and explain the keys."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tradeloop.tools._common import READ_ONLY, READ_ONLY_MARKET, Ctx, add_tool, state
from tradeloop.tools.models import FeatureKey, FeatureKeysResult, FeaturesResult, iso
from tradeloop.trading.models import MarketType


async def query_features(
    symbols: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=30)]],
        Field(
            description="Symbols like BTC-USDT, BTC/USDT or BTCUSDT (1 to 20 of them).",
            min_length=1,
            max_length=20,
        ),
    ],
    ctx: Ctx,
    interval: Annotated[
        str,
        Field(
            description="Candle interval the features are computed on: 1m, 5m, 15m, 1h, 4h, 1d.",
            pattern=r"^[1-9][0-9]{0,3}[smhdw]$",
        ),
    ] = "1h",
    lookback: Annotated[
        int,
        Field(
            description="How many closed candles the indicators look at (60-2000).", ge=60, le=2000
        ),
    ] = 200,
    exchange: Annotated[
        str,
        Field(description="ccxt exchange id the candles come from.", pattern=r"^[a-z0-9_]{2,30}$"),
    ] = "binance",
    market_type: Annotated[
        Literal["spot", "perpetual"], Field(description="Spot or linear USDT perpetual market.")
    ] = "spot",
) -> FeaturesResult:
    """Compute the latest indicator features (RSI, MACD, EMA 20/50, Bollinger bands, ATR, volume
    ratio, price changes) plus a price snapshot for any symbols, without creating a strategy.
    When the server replays history (--replay), the features are as of the end of the data."""
    app = state(ctx)
    features = await app.features.query(
        symbols, interval, lookback, exchange, MarketType(market_type)
    )
    as_of = max((f.ts for f in features), default=None)
    return FeaturesResult(
        source="replay" if app.features.replay else "live",
        exchange=exchange,
        market_type=market_type,
        interval=interval,
        as_of_ms=as_of,
        as_of=iso(as_of),
        features=features,
    )


async def list_features() -> FeatureKeysResult:
    """List every feature key a strategy decides on (and query_features returns), with its meaning."""
    from tradeloop.trading.features.keys import FEATURE_KEYS, SNAPSHOT_KEYS  # here: pandas

    keys = [FeatureKey(key=k, group="candle", meaning=v) for k, v in FEATURE_KEYS.items()]
    keys += [FeatureKey(key=k, group="snapshot", meaning=v) for k, v in SNAPSHOT_KEYS.items()]
    return FeatureKeysResult(
        keys=keys,
        notes=(
            "Candle features come once per symbol and interval (meta.interval says which); "
            "snapshot features once per symbol. A key is absent when there is too little history."
        ),
    )


def register(server: MCPServer) -> None:
    add_tool(server, query_features, title="Query market features", annotations=READ_ONLY_MARKET)
    add_tool(server, list_features, title="List feature keys", annotations=READ_ONLY)
