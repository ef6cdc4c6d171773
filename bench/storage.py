"""Bytes of database per stored cycle: a replay of BTC-USDT and ETH-USDT on the real hourly candles
(rule composer, hourly decisions), run through ``StrategyService`` as ``tradeloop run --replay``
runs it, then the database file measured after a checkpoint and a VACUUM.

Prints the cycles stored, the file size, bytes per cycle, and the bytes per cycle of the largest
columns of the ``cycles`` table (so a change can say where the bytes went).

    .venv/bin/python bench/storage.py [--cycles 2000] [--keep path.db] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HOUR_MS = 3_600_000
SYMBOLS = ["BTC-USDT", "ETH-USDT"]


async def replay(db: Path, cycles: int, data: Path = DATA) -> int:
    from tradeloop.services.models import ReplaySpec
    from tradeloop.services.replay import ReplayLibrary
    from tradeloop.services.strategies import StrategyService
    from tradeloop.settings import Settings
    from tradeloop.trading.models import StrategyStatus, TradingConfig, UserRequest

    request = UserRequest(
        trading_config=TradingConfig.model_validate(
            {
                "initial_capital": 10_000,
                "symbols": SYMBOLS,
                "feature_intervals": ["1h", "4h"],
                "decide_interval": 3600,
                "rules": {"rsi_buy_below": 45, "rsi_sell_above": 55, "position_size_pct": 0.3},
            }
        )
    )
    first = ReplayLibrary().timeline(ReplaySpec(data_dir=str(data)), request).first_slot
    spec = ReplaySpec(data_dir=str(data), end_ms=first + (cycles - 1) * HOUR_MS)
    async with StrategyService.open(Settings(db_path=db)) as svc:
        events = svc.subscribe()
        sid = (await svc.create(request, replay=spec)).strategy_id
        await svc.start(sid)
        while (await svc.get(sid)).status is StrategyStatus.RUNNING:
            await events.get()
        return (await svc.get(sid)).cycles


def measure(db: Path) -> tuple[int, dict[str, int]]:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        columns = [row[1] for row in conn.execute("PRAGMA table_info(cycles)")]
        sizes = {
            name: int(
                conn.execute(f"SELECT COALESCE(SUM(LENGTH({name})), 0) FROM cycles").fetchone()[0]
            )
            for name in columns
        }
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        if "payloads" in tables:
            sizes["payloads table"] = int(
                conn.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM payloads").fetchone()[0]
            )
    return db.stat().st_size, sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="write the database here (default: a temp dir)")
    parser.add_argument("--data", type=Path, default=DATA, help="candle folder (../shared/data)")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"no candle data at {args.data}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or Path(tmp) / "storage.db"
        stored = asyncio.run(replay(db, args.cycles, args.data))
        size, sizes = measure(db)
    print(f"cycles stored: {stored:,}  ({len(SYMBOLS)} symbols, hourly, rule composer)")
    print(f"database size: {size:,} bytes")
    print(f"bytes per cycle: {size / stored:,.0f}")
    print("largest payloads, bytes per cycle:")
    for name, total in sorted(sizes.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {name:<16} {total / stored:>9,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
