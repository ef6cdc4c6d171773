"""Every stored strategy belongs to a principal (migration strategy_owners), on both backends: reads for an
owner find only that owner's rows, another owner's id reads exactly as a missing one, names are
unique per owner, and a database from before it gives every strategy to the implicit owner
and keeps every cycle."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import asyncpg
import pytest

from tests.store_backends import StoreTarget
from tradeloop.store.backend import NewStrategy, Store
from tradeloop.store.cycles import CycleRows, insert_cycle
from tradeloop.store.db import load_migrations
from tradeloop.store.postgres.cycles import insert_rows
from tradeloop.store.postgres.db import dollar_params, migrate
from tradeloop.trading.errors import ConfigError, NotFound
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    MarketType,
    StrategyStatus,
    StrategySummary,
    TradingConfig,
    UserRequest,
)
from tradeloop.trading.portfolio.ledger import Ledger

REQUEST = UserRequest(trading_config=TradingConfig(initial_capital=1000, symbols=["BTC-USDT"]))
LEDGER = Ledger.open_account(MarketType.PERPETUAL, Decimal(1000))
IMPLICIT_OWNER = "~owner"
"""What the migration gives existing rows (``services.principals.OWNER_NAME``)."""
BEFORE_OWNERS = next(m.version for m in load_migrations() if m.name == "strategy_owners") - 1
"""The schema version just before strategies had owners (the same on both backends)."""


async def add(store: Store, sid: str, owner: str, name: str | None = None) -> None:
    await store.strategies.insert(
        strategy_id=sid,
        name=name or sid,
        agent_kind="default",
        request=REQUEST,
        replay=None,
        owner=owner,
    )


def a_cycle(strategy_id: str, compose_id: str, ts: int = 1_000) -> CycleResult:
    return CycleResult(
        compose_id=compose_id,
        strategy_id=strategy_id,
        ts=ts,
        slot_ts=ts,
        status=CycleStatus.OK,
        strategy_summary=StrategySummary(
            strategy_id=strategy_id,
            ts=ts,
            equity=1000.0,
            cash=1000.0,
            realized_pnl=0.0,
            unrealized_pnl=0.0,
            fees_paid=0.0,
            total_return_pct=0.0,
            open_positions=0,
        ),
    )


async def test_an_owner_reads_only_its_own_strategies_and_anyone_reads_all(store: Store) -> None:
    await add(store, "s_a1", "alice")
    await add(store, "s_b1", "bob")
    await add(store, "s_a2", "alice")
    strategies = store.strategies
    assert [r.id for r in await strategies.all(owner="alice")] == ["s_a1", "s_a2"]
    assert [r.id for r in await strategies.all(owner="bob")] == ["s_b1"]
    assert sorted(r.id for r in await strategies.all()) == ["s_a1", "s_a2", "s_b1"]
    assert await strategies.all(StrategyStatus.RUNNING, owner="alice") == []
    assert (await strategies.require("s_b1")).owner == "bob"
    assert (await strategies.require("s_a1", owner="alice")).owner == "alice"


async def test_another_owners_id_is_refused_with_the_unknown_ids_words(store: Store) -> None:
    await add(store, "s_b1", "bob")
    with pytest.raises(NotFound) as foreign:
        await store.strategies.require("s_b1", owner="alice")
    with pytest.raises(NotFound) as unknown:
        await store.strategies.require("s_nope", owner="alice")
    assert str(foreign.value) == "no strategy with id 's_b1'"
    assert str(unknown.value) == "no strategy with id 's_nope'"
    assert await store.strategies.get("s_b1", owner="alice") is None


async def test_two_owners_may_give_a_strategy_the_same_name_but_one_owner_not_twice(
    store: Store,
) -> None:
    await add(store, "s_a1", "alice", name="btc")
    await add(store, "s_b1", "bob", name="btc")
    with pytest.raises(ConfigError, match="a strategy named 'btc' already exists"):
        await add(store, "s_a2", "alice", name="btc")
    assert (await store.strategies.by_name("btc", owner="bob")).id == "s_b1"  # type: ignore[union-attr]
    assert await store.strategies.by_name("btc", owner="carol") is None


async def test_a_cycle_leads_to_its_strategy_for_its_owner_only(store: Store) -> None:
    await add(store, "s_b1", "bob")
    await store.cycles.insert(a_cycle("s_b1", "c_b1"), kind="decision", ledger=LEDGER)
    assert (await store.strategies.of_cycle("c_b1", owner="bob")).id == "s_b1"  # type: ignore[union-attr]
    assert (await store.strategies.of_cycle("c_b1")).id == "s_b1"  # type: ignore[union-attr]
    assert await store.strategies.of_cycle("c_b1", owner="alice") is None
    assert await store.strategies.of_cycle("c_none", owner="bob") is None


async def test_a_stored_backtest_belongs_to_the_owner_it_was_stored_for(store: Store) -> None:
    whole = NewStrategy(
        strategy_id="bt_1",
        name="bt",
        agent_kind="backtest",
        request=REQUEST,
        replay=None,
        status=StrategyStatus.STOPPED,
        reason=None,
        owner="alice",
    )
    await store.insert_whole(whole, [(a_cycle("bt_1", "c_bt"), "decision", LEDGER)])
    assert [r.id for r in await store.strategies.all(owner="alice")] == ["bt_1"]
    assert await store.strategies.all(owner="bob") == []


# --------------------------------------------------------------------------- upgrading

OLD_INSERT = (
    "INSERT INTO strategies (id, name, agent_kind, request_json, replay_json, status, reason,"
    " created_at, updated_at) VALUES (?, ?, 'default', ?, NULL, ?, NULL, ?, ?)"
)
"""A strategy row as tradeloop wrote it before owners (no owner column)."""
OLD_ROWS = [("s_old1", "btc", "running", 1), ("s_old2", "eth", "stopped", 2)]


def _old_sqlite(target: StoreTarget) -> None:
    migrations = load_migrations()[:BEFORE_OWNERS]
    conn = sqlite3.connect(target.path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL)"
    )
    for m in migrations:
        conn.executescript(m.sql)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, 0)", (m.version, m.name))
    for sid, name, status, ts in OLD_ROWS:
        conn.execute(OLD_INSERT, (sid, name, REQUEST.model_dump_json(), status, ts, ts))
        conn.execute("BEGIN")
        insert_cycle(conn, a_cycle(sid, f"c_{sid}"), kind="decision", ledger=LEDGER)
        conn.execute("COMMIT")
    conn.close()


async def _old_postgres(target: StoreTarget) -> None:
    assert target.url is not None
    conn = await asyncpg.connect(target.url)
    try:
        await migrate(conn, load_migrations("tradeloop.store.postgres")[:BEFORE_OWNERS], "old")
        for sid, name, status, ts in OLD_ROWS:
            insert = dollar_params(OLD_INSERT)
            await conn.execute(insert, sid, name, REQUEST.model_dump_json(), status, ts, ts)
            async with conn.transaction():
                await insert_rows(conn, CycleRows.of(a_cycle(sid, f"c_{sid}"), "decision", LEDGER))
    finally:
        await conn.close()


async def test_a_database_from_before_owners_gives_every_strategy_to_the_implicit_owner(
    store_target: StoreTarget,
) -> None:
    if store_target.backend == "sqlite":
        _old_sqlite(store_target)
    else:
        await _old_postgres(store_target)
    async with store_target.open() as store:
        rows = await store.strategies.all(owner=IMPLICIT_OWNER)
        assert [(r.id, r.name, r.status.value) for r in rows] == [
            (sid, name, status) for sid, name, status, _ in OLD_ROWS
        ]
        for sid, *_ in OLD_ROWS:  # the rebuilt table kept its children (no cascade)
            assert (await store.cycles.get(f"c_{sid}")) is not None
            assert (await store.strategies.of_cycle(f"c_{sid}", owner=IMPLICIT_OWNER)) is not None
        await add(store, "s_new", "alice", name="btc")  # the name is the implicit owner's only
        with pytest.raises(ConfigError):
            await add(store, "s_dup", IMPLICIT_OWNER, name="btc")
        version = await store.rows.fetchone("SELECT MAX(version) FROM schema_version")
        assert version is not None and version[0] == len(load_migrations())
