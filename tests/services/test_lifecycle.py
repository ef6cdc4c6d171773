"""The lifecycle API: transitions, clear errors that change nothing, updates, cycles on demand."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.services.helpers import (
    ScriptedAgent,
    live_request,
    perpetual_request,
    replay_request,
    scripted,
)
from tradeloop.services.models import ReplaySpec
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.errors import ConfigError, InvalidTransition, NotFound, OperationalError
from tradeloop.trading.models import (
    CycleStatus,
    ExchangeConfig,
    StrategyStatus,
    TradeSide,
    TradingConfig,
    TradingMode,
    UserRequest,
)

BUY = TradeSide.BUY
PRICES = [{"BTC-USDT": 100.0, "ETH-USDT": 10.0}, {"BTC-USDT": 104.0, "ETH-USDT": 11.0}]


def hourly(**trading: object) -> UserRequest:
    """Live data on an hourly interval: no scheduled slot comes during a test."""
    return live_request(decide_interval=3600, symbols=["BTC-USDT", "ETH-USDT"], **trading)


def agent(script: list | None = None) -> ScriptedAgent:
    return ScriptedAgent(PRICES, scripted(script or []))


def open_with(settings: Settings, clock: SimulatedClock, script: list | None = None):  # type: ignore[no-untyped-def]
    return StrategyService.open(settings, agents={"default": agent(script)}, clock=clock)


async def test_a_created_strategy_is_stored_with_its_request_status_and_agent_kind(
    service: StrategyService, shared_data: Path
) -> None:
    request = replay_request(strategy_name="named in config")
    info = await service.create(request, replay=shared_data)
    assert info.status is StrategyStatus.CREATED and info.reason is None
    assert info.name == "named in config" and info.agent_kind == "default"
    assert info.request == request and info.data == "replay"
    assert info.replay == ReplaySpec(data_dir=str(shared_data.resolve()))
    assert info.cycles == 0 and info.equity == 10_000 and info.next_run_ms is None
    assert await service.list() == [info]
    assert await service.find("named in config") == info


async def test_start_pause_resume_and_stop_move_the_status_and_the_schedule(
    settings: Settings, clock: SimulatedClock
) -> None:
    async with open_with(settings, clock) as svc:
        sid = (await svc.create(hourly(), name="a")).strategy_id
        running = await svc.start(sid)
        assert running.status is StrategyStatus.RUNNING
        assert running.next_run_ms is not None and running.next_run_ms % 3_600_000 == 0
        paused = await svc.pause(sid)
        assert paused.status is StrategyStatus.PAUSED and paused.next_run_ms is None
        assert (await svc.resume(sid)).status is StrategyStatus.RUNNING
        stopped = await svc.stop(sid)
        assert stopped.status is StrategyStatus.STOPPED and stopped.reason == "stopped by request"
        assert stopped.next_run_ms is None
        assert (await svc.start(sid)).status is StrategyStatus.RUNNING


async def test_starting_a_running_strategy_is_refused_naming_its_status_and_changes_nothing(
    settings: Settings, clock: SimulatedClock
) -> None:
    async with open_with(settings, clock) as svc:
        sid = (await svc.create(hourly(), name="a")).strategy_id
        before = await svc.start(sid)
        with pytest.raises(InvalidTransition, match=f"cannot start strategy {sid}: it is running"):
            await svc.start(sid)
        with pytest.raises(InvalidTransition, match="it is running"):
            await svc.resume(sid)
        with pytest.raises(InvalidTransition, match="cannot delete .* it is running"):
            await svc.delete(sid)
        assert await svc.get(sid) == before


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("s_nope"),
        lambda s: s.start("s_nope"),
        lambda s: s.pause("s_nope"),
        lambda s: s.resume("s_nope"),
        lambda s: s.stop("s_nope"),
        lambda s: s.delete("s_nope"),
        lambda s: s.update("s_nope", decide_interval=120),
        lambda s: s.run_cycle_now("s_nope"),
        lambda s: s.preview_decision("s_nope"),
        lambda s: s.close_position("s_nope", "BTC-USDT"),
        lambda s: s.get_portfolio("s_nope"),
        lambda s: s.get_digest("s_nope"),
        lambda s: s.list_trades("s_nope"),
        lambda s: s.list_cycles("s_nope"),
    ],
)
async def test_an_unknown_strategy_id_is_refused_naming_it(service: StrategyService, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="s_nope"):
        await call(service)
    assert await service.list() == []


async def test_an_unknown_compose_id_is_not_found(service: StrategyService) -> None:
    with pytest.raises(NotFound, match="c_nope"):
        await service.get_cycle("c_nope")


async def test_delete_is_only_allowed_when_stopped_and_removes_the_whole_history(
    settings: Settings, clock: SimulatedClock
) -> None:
    async with open_with(settings, clock, [[("BTC-USDT", BUY, 1.0, None)]]) as svc:
        sid = (await svc.create(hourly(), name="a")).strategy_id
        await svc.run_cycle_now(sid)
        with pytest.raises(InvalidTransition, match="it is created"):
            await svc.delete(sid)
        await svc.stop(sid)
        await svc.delete(sid)
        with pytest.raises(NotFound):
            await svc.get(sid)
    with sqlite3.connect(settings.db_path) as conn:
        tables = ("strategies", "cycles", "instructions", "tx_results", "trades")
        assert [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables] == [0] * 5


async def test_an_update_reaches_a_running_strategy_at_its_next_cycle(
    settings: Settings, clock: SimulatedClock
) -> None:
    script_agent = agent()
    async with StrategyService.open(settings, agents={"default": script_agent}, clock=clock) as svc:
        sid = (await svc.create(hourly(), name="a")).strategy_id
        await svc.start(sid)
        info = await svc.update(
            sid,
            decide_interval=7200,
            custom_prompt="be patient",
            max_drawdown_pct=12.5,
            name="renamed",
        )
        assert info.name == "renamed" and info.decide_interval == 7200
        assert info.next_run_ms is not None and info.next_run_ms % 7_200_000 == 0
        cfg = info.request.trading_config
        assert (cfg.custom_prompt, cfg.max_drawdown_pct) == ("be patient", 12.5)
        clock.advance(1)
        await svc.run_cycle_now(sid)
        seen = script_agent.composers[-1].contexts[-1]  # type: ignore[attr-defined]
    assert seen.strategy_id == sid
    assert len(script_agent.composers) == 2  # rebuilt with the new config


async def test_an_update_naming_unknown_or_fixed_settings_is_refused_and_changes_nothing(
    settings: Settings, clock: SimulatedClock
) -> None:
    async with open_with(settings, clock) as svc:
        before = await svc.create(hourly(), name="a")
        sid = before.strategy_id
        with pytest.raises(ConfigError, match="unknown setting.*decide_intervl, stop_loss_pct"):
            await svc.update(sid, decide_intervl=5, stop_loss_pct=3, custom_prompt="x")
        with pytest.raises(ConfigError, match="cannot be changed after creation: initial_capital"):
            await svc.update(sid, initial_capital=5)
        with pytest.raises(ConfigError, match="decide_interval"):
            await svc.update(sid, decide_interval=0)
        with pytest.raises(ConfigError, match="max_leverage must be 1 for spot"):
            await svc.update(sid, max_leverage=3)
        assert await svc.get(sid) == before


async def test_live_trading_is_refused_unless_enabled_and_then_without_an_approval(
    settings: Settings, tmp_path: Path
) -> None:
    live = UserRequest(
        exchange_config=ExchangeConfig(trading_mode=TradingMode.LIVE, credentials_name="main"),
        trading_config=TradingConfig(initial_capital=1_000, symbols=["BTC-USDT"]),
    )
    async with StrategyService.open(settings) as svc:
        with pytest.raises(OperationalError, match="live trading is disabled on this server"):
            await svc.create(live)
        assert await svc.list() == []
    enabled = settings.model_copy(update={"live_trading_enabled": True})
    async with StrategyService.open(enabled) as svc:
        with pytest.raises(ConfigError, match="needs a human confirmation"):
            await svc.create(live)
        assert await svc.list() == []


async def test_unknown_agent_kinds_and_missing_replay_data_are_refused_at_create(
    service: StrategyService, tmp_path: Path, shared_data: Path
) -> None:
    with pytest.raises(ConfigError, match="unknown agent_kind 'nope'; known: default"):
        await service.create(hourly(), agent_kind="nope")
    with pytest.raises(ConfigError, match="does not exist"):
        await service.create(replay_request(), replay=tmp_path / "missing")
    with pytest.raises(ConfigError, match="no replay data for BTC-USDT 1m"):
        await service.create(replay_request(feature_intervals=["1m"]), replay=shared_data)
    assert await service.list() == []


async def test_run_cycle_now_stores_one_cycle_and_steps_a_replay_to_its_next_slot(
    service: StrategyService, shared_data: Path
) -> None:
    sid = (await service.create(replay_request(), replay=shared_data)).strategy_id
    first = await service.run_cycle_now(sid)
    second = await service.run_cycle_now(sid)
    assert first.status is CycleStatus.OK and first.slot_ts == first.ts
    assert second.slot_ts == first.slot_ts + 3_600_000  # type: ignore[operator]
    assert await service.get_cycle(second.compose_id) == second
    info = await service.get(sid)
    assert info.cycles == 2 and info.last_slot_ts == second.slot_ts
    assert info.status is StrategyStatus.CREATED


async def test_preview_decision_executes_nothing_and_stores_nothing(
    settings: Settings, clock: SimulatedClock
) -> None:
    script = [[("BTC-USDT", BUY, 2.0, None), ("DOGE-USDT", BUY, 1.0, None)]]
    async with open_with(settings, clock, script) as svc:
        sid = (await svc.create(hourly(), name="a")).strategy_id
        preview = await svc.preview_decision(sid)
        assert [i.instrument.symbol for i in preview.proposed] == ["BTC-USDT", "DOGE-USDT"]
        assert [i.instrument.symbol for i in preview.instructions] == ["BTC-USDT"]
        assert "not in this strategy's symbols" in preview.guard_notes[0].reason
        assert preview.tx_results == [] and preview.trades == []
        info = await svc.get(sid)
        assert info.cycles == 0 and (await svc.get_portfolio(sid)).positions == {}
        with pytest.raises(NotFound):
            await svc.get_cycle(preview.compose_id)


async def test_a_preview_does_not_hide_candles_from_the_next_cycles_high_and_low(
    service: StrategyService, shared_data: Path
) -> None:
    previewed = (await service.create(perpetual_request(), replay=shared_data)).strategy_id
    plain = (await service.create(perpetual_request(), replay=shared_data)).strategy_id
    for sid in (previewed, plain):
        await service.run_cycle_now(sid)
    await service.preview_decision(previewed)
    second = [await service.run_cycle_now(sid) for sid in (previewed, plain)]

    def ranges(cycle):  # type: ignore[no-untyped-def]
        return {
            fv.instrument.symbol: (fv.values["low"], fv.values["high"])
            for fv in cycle.features
            if (fv.meta or {}).get("group_by_key") == "market_snapshot"
        }

    assert second[0].ts == second[1].ts
    assert ranges(second[0]) == ranges(second[1])  # three 5m candles each, preview or not


async def test_close_position_closes_that_symbol_only_and_records_the_cycle(
    settings: Settings, clock: SimulatedClock
) -> None:
    script = [[("BTC-USDT", BUY, 2.0, None), ("ETH-USDT", BUY, 10.0, None)]]
    async with open_with(settings, clock, script) as svc:
        sid = (await svc.create(hourly(), name="a")).strategy_id
        await svc.run_cycle_now(sid)
        assert set((await svc.get_portfolio(sid)).positions) == {"BTC-USDT", "ETH-USDT"}
        with pytest.raises(ConfigError, match="no open SOL-USDT position"):
            await svc.close_position(sid, "sol/usdt")
        clock.advance(1)
        closed = await svc.close_position(sid, "btcusdt")
        assert [(t.instrument.symbol, t.filled_qty) for t in closed.tx_results] == [
            ("BTC-USDT", 2.0)
        ]
        assert closed.slot_ts is None and "close BTC-USDT by request" in (closed.rationale or "")
        assert set((await svc.get_portfolio(sid)).positions) == {"ETH-USDT"}
        assert await svc.get_cycle(closed.compose_id) == closed


async def test_stop_with_close_positions_flattens_that_strategy_and_no_other(
    settings: Settings, clock: SimulatedClock
) -> None:
    script = [[("BTC-USDT", BUY, 2.0, None)]]
    agents = {"default": agent(script), "other": agent(script)}
    async with StrategyService.open(settings, agents=agents, clock=clock) as svc:
        a = (await svc.create(hourly(), name="a")).strategy_id
        b = (await svc.create(hourly(), name="b", agent_kind="other")).strategy_id
        await svc.run_cycle_now(a)
        await svc.run_cycle_now(b)
        clock.advance(1)
        stopped = await svc.stop(a, close_positions=True)
        assert stopped.status is StrategyStatus.STOPPED
        assert (await svc.get_portfolio(a)).positions == {}
        assert set((await svc.get_portfolio(b)).positions) == {"BTC-USDT"}
        assert stopped.cycles == 2


async def test_a_stop_interrupted_after_closing_leaves_the_strategy_paused_not_running(
    settings: Settings, clock: SimulatedClock
) -> None:
    script = [[("BTC-USDT", BUY, 2.0, None)]]
    async with open_with(settings, clock, script) as svc:
        sid = (await svc.create(hourly(), name="a")).strategy_id
        await svc.start(sid)
        await svc.run_cycle_now(sid)
        clock.advance(1)
        real_transition = svc._strategies.transition

        async def dies_before_stopped(strategy_id, to, *args, **kwargs):  # type: ignore[no-untyped-def]
            if to is StrategyStatus.STOPPED:
                raise RuntimeError("process killed here")  # the close cycle is committed
            return await real_transition(strategy_id, to, *args, **kwargs)

        svc._strategies.transition = dies_before_stopped  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="killed"):
            await svc.stop(sid, close_positions=True)

    async with open_with(settings, clock) as svc:  # the restart
        info = await svc.get(sid)
        assert info.status is StrategyStatus.PAUSED and "stop again" in (info.reason or "")
        assert info.next_run_ms is None  # not scheduled: nothing trades after the close
        closed = await svc.get_portfolio(sid)
        assert closed.positions == {}
        stopped = await svc.stop(sid, close_positions=True)  # finishes: nothing left to close
        assert stopped.status is StrategyStatus.STOPPED
        after = await svc.get_portfolio(sid)
        assert (after.fees_paid, after.realized_pnl) == (closed.fees_paid, closed.realized_pnl)


async def test_cycles_and_trades_are_paged_with_opaque_cursors_and_filters(
    service: StrategyService, shared_data: Path
) -> None:
    sid = (await service.create(replay_request(), replay=shared_data)).strategy_id
    ran = [await service.run_cycle_now(sid) for _ in range(60)]
    seen, cursor = [], None
    while True:
        page = await service.list_cycles(sid, cursor=cursor, limit=25)
        seen += [c.compose_id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [r.compose_id for r in ran]
    newest = await service.list_cycles(sid, limit=3, newest_first=True)
    assert [c.compose_id for c in newest.items] == [r.compose_id for r in ran[::-1][:3]]
    trades = [t for r in ran for t in r.trades]
    assert trades, "the thresholds should trade within 60 hours"
    assert (await service.list_trades(sid, limit=500)).items == trades
    eth = await service.list_trades(sid, symbol="eth/usdt", limit=500)
    assert eth.items == [t for t in trades if t.instrument.symbol == "ETH-USDT"]
    late = await service.list_cycles(sid, since_ms=ran[50].ts, limit=500)
    assert [c.compose_id for c in late.items] == [r.compose_id for r in ran[50:]]
    assert (await service.list_cycles(sid, status=CycleStatus.ERROR)).items == []
    with pytest.raises(ConfigError, match="invalid cursor"):
        await service.list_cycles(sid, cursor="abc")
    with pytest.raises(ConfigError, match="limit must be between 1 and 500"):
        await service.list_trades(sid, limit=0)
