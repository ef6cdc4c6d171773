"""50 replay strategies x 100 cycles on one database: no lock error, no lost or repeated row."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from tests.services.helpers import connect_readonly, duplicate_slots, replay_request, slot_gaps
from tradeloop.services.models import ReplaySpec
from tradeloop.services.replay import ReplayLibrary
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.models import StrategyStatus

STRATEGIES = 50
CYCLES = 100
HOUR = 3_600_000


async def test_fifty_strategies_run_a_hundred_cycles_each_on_one_database(
    settings: Settings, shared_data: Path, caplog
) -> None:
    caplog.set_level(logging.WARNING)
    pairs = [["BTC-USDT", "ETH-USDT"], ["SOL-USDT", "BNB-USDT"], ["BTC-USDT", "SOL-USDT"]]
    requests = [replay_request(symbols=pairs[i % len(pairs)]) for i in range(STRATEGIES)]
    first = ReplayLibrary().timeline(ReplaySpec(data_dir=str(shared_data)), requests[1])
    spec = ReplaySpec(
        data_dir=str(shared_data),
        start_ms=first.first_slot,
        end_ms=first.first_slot + (CYCLES - 1) * HOUR,
    )
    started = time.perf_counter()
    async with StrategyService.open(settings) as svc:
        events = svc.subscribe()
        ids = [
            (await svc.create(r, name=f"s{i}", replay=spec)).strategy_id
            for i, r in enumerate(requests)
        ]
        await asyncio.gather(*(svc.start(sid) for sid in ids))
        finished: set[str] = set()

        async def all_finished() -> None:
            while len(finished) < STRATEGIES:
                event = await events.get()
                if event.cycle is None and event.status is not StrategyStatus.RUNNING:
                    finished.add(event.strategy_id)

        await asyncio.wait_for(all_finished(), 300)
        infos = await svc.list()
    elapsed = time.perf_counter() - started
    assert {i.status for i in infos} == {StrategyStatus.STOPPED}
    assert {i.reason for i in infos} == {"replay finished"}
    with connect_readonly(settings.db_path) as conn:
        per_strategy = dict(conn.execute("SELECT strategy_id, COUNT(*) FROM cycles GROUP BY 1"))
        errors = conn.execute("SELECT COUNT(*) FROM cycles WHERE status = 'error'").fetchone()[0]
        assert duplicate_slots(conn) == 0
        assert sum(slot_gaps(conn, sid, HOUR) for sid in ids) == 0
    assert per_strategy == dict.fromkeys(ids, CYCLES)
    assert errors == 0
    assert not [r for r in caplog.records if "locked" in r.getMessage()]
    print(f"concurrency: {STRATEGIES * CYCLES} cycles in {elapsed:.1f} s")
