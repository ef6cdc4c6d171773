"""What relaying a cycle on demand to the replica that runs the strategy costs: two replicas (two
``StrategyService``s in one process) on one PostgreSQL database, a replay strategy (BTC-USDT +
ETH-USDT, rule composer, real hourly candles, paced so slowly that no scheduled slot fires) run by
the first; ``run_cycle_now`` asked of the first (local) and of the second (relayed: a command row,
NOTIFY, the owner's claim, its answer, NOTIFY) in turn. Prints p50 and p99 latency of each.

PostgreSQL needs a server: give ``--pg postgresql://user@host:port/dbname`` (an empty database,
or one this bench used before: its strategies are dropped first).

    PYTHONPATH=. .venv/bin/python bench/relay.py --pg URL [--calls 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


async def run(url: str, calls: int) -> dict[str, list[float]]:
    from tradeloop.services.models import ReplaySpec
    from tradeloop.services.strategies import StrategyService
    from tradeloop.settings import Settings
    from tradeloop.trading.models import StrategyStatus, TradingConfig, UserRequest

    request = UserRequest(
        trading_config=TradingConfig.model_validate(
            {
                "initial_capital": 10_000,
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "feature_intervals": ["1h", "4h"],
                "decide_interval": 3600,
                "rules": {"rsi_buy_below": 45, "rsi_sell_above": 55, "position_size_pct": 0.3},
            }
        )
    )
    settings = Settings.from_env({}, db_path=url)
    spec = ReplaySpec(data_dir=str(DATA), speed=1e-6)  # an hourly slot every 114 years
    async with StrategyService.open(settings) as a, StrategyService.open(settings) as b:
        for info in await a.list():
            if info.status is not StrategyStatus.STOPPED:
                await a.stop(info.strategy_id)
            await a.delete(info.strategy_id)
        sid = (await a.create(request, replay=spec)).strategy_id
        await a.start(sid)
        await a.run_cycle_now(sid)  # warm up: loads the candles and the indicators once
        times: dict[str, list[float]] = {"local": [], "relayed": []}
        for _ in range(calls):
            for name, svc in (("local", a), ("relayed", b)):
                start = time.perf_counter()
                await svc.run_cycle_now(sid)
                times[name].append(time.perf_counter() - start)
        await a.stop(sid)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="postgresql:// URL this bench may fill")
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no candles at {DATA}", file=sys.stderr)
        return 1
    times = asyncio.run(run(args.pg, args.calls))
    print(f"run_cycle_now of one replay strategy, {args.calls} calls each, two replicas")
    for name, samples in times.items():
        ms = sorted(1000 * s for s in samples)
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        print(f"{name:<8} p50 {statistics.median(ms):6.1f} ms   p99 {p99:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
