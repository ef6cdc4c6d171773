"""Cycles per second through ``StrategyService`` on SQLite and on PostgreSQL: N replay strategies
(BTC-USDT + ETH-USDT, rule composer, hourly decisions, real candles) started together, each
running C cycles back to back, one process. Prints wall time and cycles/s per backend.

PostgreSQL needs a server: give ``--pg postgresql://user@host:port/dbname`` (an empty database,
or one this bench used before: its strategies are dropped first). Without ``--pg`` only SQLite.

    .venv/bin/python bench/store_backends.py [--strategies 20] [--cycles 25] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HOUR_MS = 3_600_000


async def run(db: str, strategies: int, cycles: int) -> tuple[int, float]:
    from tradeloop.services.models import ReplaySpec
    from tradeloop.services.replay import ReplayLibrary
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
    first = ReplayLibrary().timeline(ReplaySpec(data_dir=str(DATA)), request).first_slot
    spec = ReplaySpec(data_dir=str(DATA), end_ms=first + (cycles - 1) * HOUR_MS)
    async with StrategyService.open(Settings.from_env({}, db_path=db)) as svc:
        for info in await svc.list():
            if info.status is not StrategyStatus.STOPPED:
                await svc.stop(info.strategy_id)
            await svc.delete(info.strategy_id)
        ids = [(await svc.create(request, replay=spec)).strategy_id for _ in range(strategies)]
        events = svc.subscribe()
        start = time.perf_counter()
        for sid in ids:
            await svc.start(sid)
        running = set(ids)
        while running:
            event = await asyncio.wait_for(events.get(), 60)
            if event.cycle is None and event.status is not StrategyStatus.RUNNING:
                running.discard(event.strategy_id)
        elapsed = time.perf_counter() - start
        done = sum([(await svc.get(sid)).cycles for sid in ids])
    return done, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=25)
    parser.add_argument("--pg", help="postgresql:// URL of a database this bench may fill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", str(Path(tmp) / "bench.db"))]
        if args.pg:
            targets.append(("postgresql", args.pg))
        print(f"{args.strategies} replay strategies x {args.cycles} cycles, one process")
        for name, db in targets:
            done, elapsed = asyncio.run(run(db, args.strategies, args.cycles))
            print(f"{name:<11} {done} cycles in {elapsed:.2f} s: {done / elapsed:.0f} cycles/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
