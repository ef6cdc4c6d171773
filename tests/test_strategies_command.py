"""``tradeloop strategies``: the operator lists every principal's strategies (beside a running
server too) and pauses or stops any of them; on a SQLite database a server holds, acting is
refused and changes nothing; on PostgreSQL the replica running the strategy follows at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.services.helpers import ScriptedAgent, live_request, scripted
from tests.store_backends import StoreTarget
from tradeloop.cli import main
from tradeloop.services.owned import OwnedStrategies
from tradeloop.services.principals import OWNER, Principal
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.models import StrategyStatus

ALICE = Principal(name="alice", can_trade=True)
BOB = Principal(name="bob", can_trade=True)
PRICES = [{"BTC-USDT": 100.0}]


def serving(settings: Settings):  # type: ignore[no-untyped-def]
    """A server's service: live data on an hourly interval, so no slot comes during a test."""
    agent = ScriptedAgent(PRICES, scripted([]))
    return StrategyService.open(
        settings, agents={"default": agent}, clock=SimulatedClock(1_750_000_000_000)
    )


async def tradeloop(*argv: str) -> int:
    """The command, in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(main, ["--log-level", "WARNING", *argv])


async def one_each(service: StrategyService) -> dict[str, str]:
    ids = {}
    for who in (ALICE, BOB, OWNER):
        owned = OwnedStrategies(service, who)
        info = await owned.create(live_request(decide_interval=3600), name=f"{who.name}'s")
        ids[who.name] = (await owned.start(info.strategy_id)).strategy_id
    return ids


async def test_the_operator_lists_every_principals_strategies_beside_a_running_server(
    tmp_path: Path, capsys
) -> None:
    settings = Settings(db_path=tmp_path / "t.db")
    async with serving(settings) as service:  # holds the SQLite file's process lock
        ids = await one_each(service)
        capsys.readouterr()
        assert await tradeloop("strategies", "list", "--db", str(settings.db_path)) == 0
        everyone = capsys.readouterr().out
        assert (
            await tradeloop(
                "strategies", "list", "--principal", "alice", "--db", str(settings.db_path)
            )
            == 0
        )
        alices = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in everyone.splitlines()[1:]}
    assert {sid: rows[sid][1] for sid in rows} == {sid: who for who, sid in ids.items()}
    assert all(row[3] == "running" and row[4] == "virtual" for row in rows.values())
    assert [line.split()[0] for line in alices.splitlines()[1:]] == [ids["alice"]]


@pytest.mark.parametrize("action", ["pause", "stop"])
async def test_acting_on_a_sqlite_database_a_server_holds_is_refused_and_changes_nothing(
    tmp_path: Path, capsys, action: str
) -> None:
    settings = Settings(db_path=tmp_path / "t.db")
    async with serving(settings) as service:
        sid = (await one_each(service))["bob"]
        capsys.readouterr()
        code = await tradeloop("strategies", action, sid, "--db", str(settings.db_path))
        info = await service.get(sid)
    err = capsys.readouterr().err
    assert code == 2
    assert "in use by another tradeloop process" in err
    assert f"use its {action}_strategy tool" in err and "or stop it" in err
    assert info.status is StrategyStatus.RUNNING


async def test_the_operator_pauses_and_stops_any_principals_strategy(
    store_target: StoreTarget, capsys
) -> None:
    """On PostgreSQL the serving replica stays up and follows the command (NOTIFY); a SQLite
    server is stopped first."""
    settings = store_target.settings()
    db = store_target.db
    async with serving(settings) as service:
        sid = (await one_each(service))["alice"]
        if store_target.backend == "postgresql":
            assert await tradeloop("strategies", "pause", sid, "--db", db) == 0
            for _ in range(200):  # bounded: the replica hears the change and unloads it
                if sid not in service.registry.loaded:
                    break
                await asyncio.sleep(0.05)
            assert sid not in service.registry.loaded
    if store_target.backend == "sqlite":
        assert (
            await tradeloop("strategies", "pause", sid, "--reason", "risk budget", "--db", db) == 0
        )
    async with store_target.open() as store:
        paused = await store.strategies.require(sid)
    assert await tradeloop("strategies", "stop", sid, "--db", db) == 0
    async with store_target.open() as store:
        stopped = await store.strategies.require(sid)
    out = capsys.readouterr().out
    assert paused.status is StrategyStatus.PAUSED and paused.owner == "alice"
    assert paused.reason in ("paused by the operator", "risk budget")
    assert stopped.status is StrategyStatus.STOPPED
    assert f"{sid} (alice, alice's): paused" in out and f"{sid} (alice, alice's): stopped" in out
