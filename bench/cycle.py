"""Framework overhead of one decision cycle: 10 symbols, replayed candles, rule composer, paper
gateway, in-memory portfolio/history/digest; everything but the network.

Prints the median and p95 of a warm cycle, the replay fast path's share, and the feature computation
time per symbol on a live-sized window (200 candles, both intervals), which is what each cycle pays
per symbol when the data comes from an exchange.

    .venv/bin/python bench/cycle.py [--cycles 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = [
    "binance_spot_BTCUSDT_1h.csv",
    "binance_spot_ETHUSDT_1h.csv",
    "binance_spot_SOLUSDT_1h.csv",
    "binance_spot_BNBUSDT_1h.csv",
]
SYMBOLS = ["BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK"]


async def bench_cycles(cycles: int) -> tuple[list[float], list[float]]:
    from tradeloop.trading._internal.runtime import Components
    from tradeloop.trading.base_agent import DefaultStrategyAgent
    from tradeloop.trading.clock import SimulatedClock
    from tradeloop.trading.data.replay import ReplayMarketDataSource
    from tradeloop.trading.models import UserRequest

    files = {(f"{s}-USDT", "1h"): DATA / FILES[i % len(FILES)] for i, s in enumerate(SYMBOLS)}
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource(files, clock)
    clock.set(source.start_ms(4 * 60))
    request = UserRequest.model_validate(
        {
            "trading_config": {
                "initial_capital": 100_000,
                "symbols": [f"{s}-USDT" for s in SYMBOLS],
                "decide_interval": 3600,
                "feature_intervals": ["1h", "4h"],
                "max_positions": 10,
                "rules": {"rsi_buy_below": 40, "rsi_sell_above": 60, "position_size_pct": 0.1},
            }
        }
    )
    runtime = await DefaultStrategyAgent().create_runtime(
        request, components=Components(market_data=source, clock=clock)
    )
    pipeline = runtime.coordinator.pipeline
    for _ in range(20):  # warm: CSV load, full-series indicator frames, numba
        await runtime.coordinator.run_once()
        runtime.advance()
    cycle_ms, feature_ms = [], []
    fills = 0
    for _ in range(cycles):
        t0 = time.perf_counter()
        await pipeline.build()
        t1 = time.perf_counter()
        result = await runtime.coordinator.run_once()
        t2 = time.perf_counter()
        runtime.advance()
        feature_ms.append((t1 - t0) * 1000)
        cycle_ms.append((t2 - t1) * 1000)
        fills += sum(1 for tx in result.tx_results if tx.filled_qty > 0)
    print(f"fills during the timed cycles: {fills}")
    return cycle_ms, feature_ms


def bench_window_features(repeats: int = 50) -> float:
    """Median ms to compute the indicator set for one symbol on 200 candles x 2 intervals."""
    import pandas as pd

    from tradeloop.trading.features.indicators import indicator_frame
    from tradeloop.trading.features.warmup import warm_up

    warm_up()
    frame = pd.read_csv(DATA / FILES[0])
    hourly = frame.iloc[-200:].reset_index(drop=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        indicator_frame(hourly)
        indicator_frame(hourly)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found (the shared candle data)", file=sys.stderr)
        return 0
    cycle_ms, feature_ms = asyncio.run(bench_cycles(args.cycles))
    print(f"cycles timed: {len(cycle_ms)} (10 symbols, 1h+4h features, rule composer, paper)")
    print(f"cycle median: {statistics.median(cycle_ms):.3f} ms   p95: {pct(cycle_ms, 0.95):.3f} ms")
    print(
        f"features alone (replay fast path, one build) median: {statistics.median(feature_ms):.3f} ms"
    )
    print(
        f"feature computation per symbol, 200-candle window x 2 intervals: "
        f"{bench_window_features():.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
