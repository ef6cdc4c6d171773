"""The log at INFO: exactly one line per cycle (plus a few per strategy, whatever its length)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.services.helpers import replay_request
from tradeloop.services.models import ReplaySpec
from tradeloop.services.replay import ReplayLibrary
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.models import StrategyStatus

HOUR = 3_600_000


async def replay_info_lines(
    tmp_path: Path, shared_data: Path, caplog: pytest.LogCaptureFixture, cycles: int
) -> tuple[list[str], int]:
    """The INFO lines of a scheduled replay of ``cycles`` cycles, and how many cycles ran."""
    first = ReplayLibrary().timeline(ReplaySpec(data_dir=str(shared_data)), replay_request())
    spec = ReplaySpec(data_dir=str(shared_data), end_ms=first.first_slot + (cycles - 1) * HOUR)
    settings = Settings(db_path=tmp_path / f"{cycles}.db", shutdown_grace_s=5)
    caplog.clear()
    async with StrategyService.open(settings) as svc:
        events = svc.subscribe()
        sid = (await svc.create(replay_request(), replay=spec)).strategy_id
        await svc.start(sid)

        async def finished() -> None:
            while (await svc.get(sid)).status is StrategyStatus.RUNNING:
                await events.get()

        await asyncio.wait_for(finished(), 60)
        ran = (await svc.get(sid)).cycles
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    return lines, ran


async def test_a_replay_logs_one_info_line_per_cycle(
    tmp_path: Path, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await replay_info_lines(tmp_path / "warm", shared_data, caplog, 2)  # one-off warm-up lines
    short, short_ran = await replay_info_lines(tmp_path, shared_data, caplog, 3)
    long, long_ran = await replay_info_lines(tmp_path, shared_data, caplog, 8)
    assert (short_ran, long_ran) == (3, 8)
    for lines, ran in ((short, short_ran), (long, long_ran)):
        cycle_lines = [line for line in lines if line.startswith("cycle ")]
        assert len(cycle_lines) == ran, lines
    assert len(long) - len(short) == long_ran - short_ran, long
