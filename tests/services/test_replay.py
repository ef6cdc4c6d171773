"""Replays: their own simulated clock, shared candle arrays, a clean end when the data runs out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.services.helpers import perpetual_request, replay_request
from tradeloop.services.models import ReplaySpec
from tradeloop.services.replay import ReplayLibrary, resolve_venue
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import StrategyStatus

HOUR = 3_600_000
WAIT_S = 20.0


async def wait_until_not_running(svc: StrategyService, sid: str) -> None:
    events = svc.subscribe()

    async def wait() -> None:
        while (await svc.get(sid)).status is StrategyStatus.RUNNING:
            await events.get()

    await asyncio.wait_for(wait(), WAIT_S)


async def test_a_replay_stops_with_replay_finished_after_its_last_slot(
    settings: Settings, shared_data: Path
) -> None:
    first = ReplayLibrary().timeline(ReplaySpec(data_dir=str(shared_data)), replay_request())
    spec = ReplaySpec(data_dir=str(shared_data), end_ms=first.first_slot + 4 * HOUR)
    async with StrategyService.open(settings) as svc:
        sid = (await svc.create(replay_request(), replay=spec)).strategy_id
        await svc.start(sid)
        await wait_until_not_running(svc, sid)
        info = await svc.get(sid)
    assert info.status is StrategyStatus.STOPPED and info.reason == "replay finished"
    assert info.cycles == 5 and info.last_slot_ts == first.first_slot + 4 * HOUR


async def test_a_paced_replay_runs_its_simulated_time_at_a_multiple_of_wall_time(
    settings: Settings, shared_data: Path
) -> None:
    spec = ReplaySpec(data_dir=str(shared_data), speed=3600 * 20)  # an hour every 50 ms
    async with StrategyService.open(settings) as svc:
        sid = (await svc.create(replay_request(), replay=spec)).strategy_id
        info = await svc.start(sid)
        assert info.next_run_ms is not None and info.next_run_ms % 50 == 0
        events = svc.subscribe()
        cycles = 0
        while cycles < 3:
            event = await asyncio.wait_for(events.get(), WAIT_S)
            cycles += event.cycle is not None
        await svc.pause(sid)
    assert svc.scheduler.delays.samples


def test_replay_strategies_share_one_load_of_each_candle_file(shared_data: Path) -> None:
    library = ReplayLibrary()
    spec = ReplaySpec(data_dir=str(shared_data))
    a = library.timeline(spec, replay_request())
    loaded = dict(library.series_cache)
    assert loaded and {path.name[:12] for path, _ in loaded} == {"binance_spot"}
    b = library.timeline(spec, replay_request(symbols=["ETH-USDT", "SOL-USDT"]))
    assert all(library.series_cache[key] is series for key, series in loaded.items())
    added = set(library.series_cache) - set(loaded)
    assert all(
        interval_ms == 4 * HOUR for _, interval_ms in added
    )  # only resampled 4h, no CSV twice
    library.timeline(spec, perpetual_request())
    assert len(library.series_cache) > len(loaded)  # the Bybit files join the same cache
    assert a.clock is not b.clock
    a.clock.set(a.first_slot)
    b.clock.set(a.first_slot + 10 * HOUR)
    assert a.source.visible_count("ETH-USDT", "1h") + 10 == b.source.visible_count("ETH-USDT", "1h")


def test_the_venue_follows_the_exchange_and_market_type_when_files_carry_it(
    shared_data: Path, tmp_path: Path
) -> None:
    spec = ReplaySpec(data_dir=str(shared_data))
    assert resolve_venue(spec, replay_request()) == "binance_spot"
    assert resolve_venue(spec, perpetual_request()) == "bybit_linear"
    assert resolve_venue(ReplaySpec(data_dir=str(tmp_path)), replay_request()) is None
    assert resolve_venue(spec.model_copy(update={"venue": "x"}), replay_request()) == "x"


async def test_an_update_its_replay_data_cannot_serve_is_refused_naming_what_exists(
    settings: Settings, shared_data: Path
) -> None:
    async with StrategyService.open(settings) as svc:
        before = await svc.create(replay_request(feature_intervals=["1h"]), replay=shared_data)
        sid = before.strategy_id
        await svc.run_cycle_now(sid)  # loaded: a refused update must not reload it either
        before = await svc.get(sid)
        with pytest.raises(ConfigError) as refused:
            await svc.update(sid, name="renamed", feature_intervals=["1m"])
        assert await svc.get(sid) == before
        await svc.run_cycle_now(sid)  # still runs with its stored config
        after = await svc.update(sid, feature_intervals=["1h", "4h"])  # 4h: resampled from 1h
    message = str(refused.value)
    assert "feature_intervals" in message and sid in message
    assert "no replay data for BTC-USDT 1m" in message and "BTC-USDT 1h" in message
    assert after.request.trading_config.feature_intervals == ["1h", "4h"]
