"""get_digest sets the strategy beside buy-and-hold over its own history (same prices, fees)."""

from __future__ import annotations

import pytest

from tests.tools.conftest import create, ok


def snapshot_prices(cycle: dict) -> dict[str, float]:
    return {
        f["instrument"]["symbol"]: f["values"]["price"]
        for f in cycle["features"]
        if (f.get("meta") or {}).get("group_by_key") == "market_snapshot"
    }


async def test_get_digest_reports_buy_and_hold_from_the_first_to_the_latest_cycle(
    connect_trading,
) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        assert (await ok(client, "get_digest", strategy_id=sid))["buy_and_hold"] is None
        for _ in range(4):
            await ok(client, "run_cycle_now", strategy_id=sid)
        digest = await ok(client, "get_digest", strategy_id=sid)
        cycles = (await ok(client, "list_cycles", strategy_id=sid, limit=500))["cycles"]
        first = await ok(client, "get_cycle", compose_id=cycles[0]["compose_id"])
        last = await ok(client, "get_cycle", compose_id=cycles[-1]["compose_id"])
        fee = (await ok(client, "get_strategy", strategy_id=sid))["config"]["fee_bps"] / 10_000
    p0, p1 = snapshot_prices(first), snapshot_prices(last)
    slip = 0.0005  # the default max_slippage_bps of 5, in and out
    growth = (p1["BTC-USDT"] / p0["BTC-USDT"] + p1["ETH-USDT"] / p0["ETH-USDT"]) / 2
    expected = (growth * (1 - slip) * (1 - fee) / ((1 + slip) * (1 + fee)) - 1) * 100
    hold = digest["buy_and_hold"]
    assert hold["total_return_pct"] == pytest.approx(expected, rel=1e-9)
    assert (hold["since"], hold["until"]) == (cycles[0]["ts"], cycles[-1]["ts"])
