"""The scheduler under load: 200 paper strategies on a 1-minute interval, on accelerated time.

Every strategy replays real candles (Bybit perpetual 5m files, features on 5m and 1h) through the
whole stack: StrategyService, APScheduler interval jobs aligned to their slots, the cycle boundary,
and one SQLite transaction per cycle. ``--speed 60`` runs simulated time 60x faster than the wall
clock, so each 1-minute slot comes every second and all strategies fire on the same boundary.

Prints the p50/p99 delay of a cycle's start after its slot (wall clock), cycles per second, peak
RSS, and then the throughput of the same strategies replaying back to back (no pacing).

    .venv/bin/python bench/scheduler.py [--strategies 200] [--speed 60] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def request(i: int):  # type: ignore[no-untyped-def]
    from tradeloop.trading.models import UserRequest

    pairs = [["BTC-USDT", "ETH-USDT"], ["ETH-USDT", "SOL-USDT"], ["BTC-USDT", "SOL-USDT"]]
    return UserRequest.model_validate(
        {
            "exchange_config": {"exchange_id": "bybit", "market_type": "perpetual"},
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": pairs[i % len(pairs)],
                "feature_intervals": ["5m", "1h"],
                "decide_interval": 60,
                "candle_lookback": 60,
                "max_leverage": 2,
                "rules": {"rsi_buy_below": 40, "rsi_sell_above": 60, "allow_short": True},
            },
        }
    )


async def create_all(svc, n: int, speed: float | None) -> list[str]:  # type: ignore[no-untyped-def]
    from tradeloop.services.models import ReplaySpec

    spec = ReplaySpec(data_dir=str(DATA), speed=speed)
    return [
        (await svc.create(request(i), name=f"bench-{i}", replay=spec)).strategy_id for i in range(n)
    ]


async def stored_cycles(svc, ids: list[str]) -> int:  # type: ignore[no-untyped-def]
    return sum([(await svc.get(sid)).cycles for sid in ids])


async def paced(n: int, speed: float, seconds: float, db: Path) -> dict[str, float]:
    from tradeloop.services.strategies import StrategyService
    from tradeloop.settings import Settings

    async with StrategyService.open(Settings(db_path=db)) as svc:
        ids = await create_all(svc, n, speed)
        for sid in ids:  # warm each strategy (loads candles, computes its indicator frames)
            await svc.run_cycle_now(sid)
        before = await stored_cycles(svc, ids)
        for sid in ids:
            await svc.start(sid)
        svc.scheduler.delays.samples.clear()
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        for sid in ids:
            await svc.pause(sid)
        elapsed = time.perf_counter() - started
        ran = await stored_cycles(svc, ids) - before
        delays = svc.scheduler.delays
        expected = n * seconds * speed / 60
        return {
            "p50_ms": delays.percentile(50) or 0.0,
            "p99_ms": delays.percentile(99) or 0.0,
            "max_ms": delays.percentile(100) or 0.0,
            "cycles": ran,
            "expected": expected,
            "cycles_per_s": ran / elapsed,
        }


async def flat_out(n: int, cycles: int, db: Path) -> dict[str, float]:
    from tradeloop.services.strategies import StrategyService
    from tradeloop.settings import Settings

    async with StrategyService.open(Settings(db_path=db)) as svc:
        ids = await create_all(svc, n, None)
        for sid in ids:
            await svc.run_cycle_now(sid)
            await svc.limit_cycles(sid, cycles)
        events = svc.subscribe()
        started = time.perf_counter()
        for sid in ids:
            await svc.start(sid)
        paused = 0
        while paused < n:
            event = await events.get()
            paused += event.cycle is None and event.status.value == "paused"
        elapsed = time.perf_counter() - started
        return {"cycles": n * cycles, "seconds": elapsed, "cycles_per_s": n * cycles / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=int, default=200)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--flat-out-cycles", type=int, default=50)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the real candles in {DATA}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        p = asyncio.run(paced(args.strategies, args.speed, args.seconds, Path(tmp) / "paced.db"))
        f = asyncio.run(flat_out(args.strategies, args.flat_out_cycles, Path(tmp) / "flat.db"))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    slot_s = 60 / args.speed
    print(
        f"{args.strategies} paper strategies, 1-minute interval at {args.speed:g}x "
        f"(a slot every {slot_s:g} s of wall time), {args.seconds:g} s"
    )
    print(
        f"  cycle start delay after its slot: p50 {p['p50_ms']:.0f} ms, p99 {p['p99_ms']:.0f} ms,"
        f" max {p['max_ms']:.0f} ms"
    )
    print(
        f"  cycles: {p['cycles']:.0f} of {p['expected']:.0f} slots "
        f"({p['cycles_per_s']:.0f} cycles/s)"
    )
    print(
        f"  back to back: {f['cycles']:.0f} cycles in {f['seconds']:.1f} s "
        f"({f['cycles_per_s']:.0f} cycles/s)"
    )
    print(f"  peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
