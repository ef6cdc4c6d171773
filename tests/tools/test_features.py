"""Feature tools through a real MCP session, on replayed candles (no network)."""

from __future__ import annotations

from tests.tools.conftest import error, ok
from tradeloop.trading.features.keys import FEATURE_KEYS, SNAPSHOT_KEYS


async def test_query_features_returns_candle_and_snapshot_vectors_without_a_strategy(
    connect,
) -> None:
    async with connect() as client:
        result = await ok(
            client, "query_features", symbols=["BTC-USDT", "eth/usdt"], interval="4h", lookback=120
        )
        strategies = await ok(client, "list_strategies")
    assert result["source"] == "replay"
    assert result["interval"] == "4h"
    candle = [f for f in result["features"] if f["meta"]["group_by_key"] == "candles_4h"]
    snapshot = [f for f in result["features"] if f["meta"]["group_by_key"] == "market_snapshot"]
    assert {f["instrument"]["symbol"] for f in candle} == {"BTC-USDT", "ETH-USDT"}
    assert {f["instrument"]["symbol"] for f in snapshot} == {"BTC-USDT", "ETH-USDT"}
    assert 0 <= candle[0]["values"]["rsi"] <= 100
    assert set(candle[0]["values"]) <= set(FEATURE_KEYS)
    assert result["as_of_ms"] == max(f["ts"] for f in result["features"])
    assert strategies["count"] == 0


async def test_query_features_names_the_missing_data(connect) -> None:
    async with connect() as client:
        text = await error(client, "query_features", symbols=["DOGE-USDT"])
        bad_interval = await error(client, "query_features", symbols=["BTC-USDT"], interval="1x")
    assert "no replay data for DOGE-USDT" in text and "BTC-USDT 1h" in text
    assert bad_interval.startswith("invalid arguments for query_features: interval:")


async def test_list_features_explains_every_key(connect) -> None:
    async with connect() as client:
        result = await ok(client, "list_features")
    keys = {k["key"]: k for k in result["keys"]}
    assert set(keys) == set(FEATURE_KEYS) | set(SNAPSHOT_KEYS)
    assert keys["rsi"]["group"] == "candle" and "RSI" in keys["rsi"]["meaning"]
    assert keys["price"]["group"] == "snapshot"
