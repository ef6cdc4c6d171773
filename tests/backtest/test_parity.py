"""The same rule strategy on the same candles, (a) as a backtest and (b) as a paper strategy that the
StrategyService's scheduler drives slot by slot on replayed time, makes the same instructions and
fills and ends with the same equity."""

from __future__ import annotations

import asyncio

from tests.backtest.helpers import BTC, DATA, HOUR, rsi_request
from tradeloop.backtest.runner import BacktestSpec, run_backtest
from tradeloop.services.backtests import strategy_chart_png
from tradeloop.services.models import ReplaySpec
from tradeloop.services.owned import OwnedStrategies
from tradeloop.services.principals import OWNER
from tradeloop.services.strategies import REPLAY_FINISHED, StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.models import CycleResult, StrategyStatus

FIRST_TS = int(BTC.read_text().splitlines()[1].split(",")[0])
START, END = FIRST_TS + 120 * HOUR, FIRST_TS + 720 * HOUR
WAIT_S = 120


def decisions(cycles: list[CycleResult]) -> list[tuple]:
    return [
        (c.slot_ts, [(i.instrument.symbol, i.side, i.quantity, i.action) for i in c.instructions])
        for c in cycles
    ]


def fills(cycles: list[CycleResult]) -> list[tuple]:
    return [
        (c.slot_ts, t.status, t.filled_qty, t.avg_exec_price, t.fee_cost, t.ts)
        for c in cycles
        for t in c.tx_results
    ]


async def scheduled_replay(tmp_path, request) -> tuple[list[CycleResult], float]:
    settings = Settings(db_path=tmp_path / "parity.db")
    async with StrategyService.open(settings) as service:
        info = await service.create(
            request,
            name="parity",
            replay=ReplaySpec(data_dir=str(DATA), start_ms=START, end_ms=END),
        )
        events = service.subscribe()
        await service.start(info.strategy_id)
        await asyncio.wait_for(_stopped(events), WAIT_S)
        final = await service.get(info.strategy_id)
        assert final.reason == REPLAY_FINISHED
        png = await strategy_chart_png(OwnedStrategies(service, OWNER), info.strategy_id)
        assert png.startswith(b"\x89PNG")
        cycles, cursor = [], None
        while True:
            page = await service.list_cycles(info.strategy_id, cursor=cursor, limit=500)
            cycles += [await service.get_cycle(r.compose_id) for r in page.items]
            if page.next_cursor is None:
                return cycles, final.equity
            cursor = page.next_cursor


async def _stopped(events: asyncio.Queue) -> None:
    while (await events.get()).status is not StrategyStatus.STOPPED:
        pass


async def test_a_backtest_and_a_scheduled_paper_replay_trade_identically(tmp_path) -> None:
    request = rsi_request()
    run = await run_backtest(
        BacktestSpec(request=request, data=[str(BTC)], start_ms=START, end_ms=END), storable=True
    )
    backtest_cycles = [cycle for cycle, _ in run.take_cycles_to_store()]  # every cycle
    replay_cycles, replay_equity = await scheduled_replay(tmp_path, request)

    assert len(backtest_cycles) == len(replay_cycles) == 601
    assert decisions(backtest_cycles) == decisions(replay_cycles)
    assert fills(backtest_cycles) == fills(replay_cycles)
    assert sum(1 for _ in fills(backtest_cycles)) >= 4, "the window should trade"
    assert run.stats is not None and run.stats.final_equity == replay_equity
