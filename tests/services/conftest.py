"""Fixtures for service tests: settings on a temporary database, a simulated clock for live-data
strategies and an opened service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock

START_MS = 1_750_000_000_000


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "tradeloop.db", shutdown_grace_s=5)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
async def service(settings: Settings, clock: SimulatedClock) -> AsyncIterator[StrategyService]:
    async with StrategyService.open(settings, clock=clock) as svc:
        yield svc
