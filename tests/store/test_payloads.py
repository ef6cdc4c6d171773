"""Cycles stored compactly: a feature vector several cycles saw and an LLM system prompt are stored
once per strategy, large JSON is deflated, and ``get_cycle`` still answers everything; cycles
written before the migration read back unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic_core import to_json

from tests.services.helpers import replay_request
from tradeloop.services.models import ReplaySpec
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.store.codec import ledger_to_json
from tradeloop.store.cycles import CycleRepository
from tradeloop.store.db import Database, load_migrations
from tradeloop.store.payloads import pack, unpack
from tradeloop.store.strategies import StrategyRepository
from tradeloop.trading.models import CycleResult
from tradeloop.trading.portfolio.ledger import Ledger

SYSTEM = "You are a careful trader. " * 200
"""A system prompt of 5,000 characters: the same in every cycle of an LLM strategy."""


@pytest.fixture
async def replayed(tmp_path: Path, shared_data: Path) -> AsyncIterator[tuple[Path, list]]:
    """Eight hourly cycles of BTC + ETH on the real candles (1h and 4h features)."""
    settings = Settings(db_path=tmp_path / "t.db", shutdown_grace_s=5)
    async with StrategyService.open(settings) as svc:
        spec = ReplaySpec(data_dir=str(shared_data))
        sid = (await svc.create(replay_request(), replay=spec)).strategy_id
        results = [await svc.run_cycle_now(sid) for _ in range(8)]
        stored = [await svc.get_cycle(r.compose_id) for r in results]
    yield settings.db_path, list(zip(results, stored, strict=True))


async def test_every_stored_cycle_reads_back_equal_to_the_cycle_that_ran(replayed) -> None:
    _, pairs = replayed
    for ran, stored in pairs:
        assert stored == ran
        assert stored.features and stored.portfolio is not None and stored.raw is not None


async def test_a_feature_vector_several_cycles_saw_is_stored_once(replayed) -> None:
    path, pairs = replayed
    vectors = [v.model_dump_json() for ran, _ in pairs for v in ran.features]
    assert len(set(vectors)) < len(vectors)  # a 4h vector is seen by up to four hourly cycles
    with sqlite3.connect(path) as conn:
        payloads = conn.execute("SELECT COUNT(*) FROM payloads").fetchone()[0]
        refs = [row[0] for row in conn.execute("SELECT features FROM cycles ORDER BY id")]
    assert payloads == len(set(vectors))
    assert [len(r) for r in refs] == [16 * len(ran.features) for ran, _ in pairs]


async def test_an_llm_system_prompt_is_stored_once_and_read_back_into_every_cycle(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "t.db")
    try:
        cycles = await _strategy_with_cycles(db, "s_llm", [_llm_cycle(i) for i in range(5)])
        for i in range(5):
            stored = await cycles.get(f"c_{i:032x}")
            assert stored is not None and stored == _llm_cycle(i)
        sizes = await db.fetchall("SELECT LENGTH(raw) FROM cycles")
        bodies = await db.fetchall("SELECT body FROM payloads")
    finally:
        await db.close()
    assert all(size < 200 for (size,) in sizes)  # each row: a reference, not 5,000 characters
    unpacked = [unpack(bytes(body)) for (body,) in bodies]
    assert unpacked.count(to_json(SYSTEM)) == 1
    assert len(unpacked) == 1 + 1 + 5  # the prompt, the shared 4h vector, five snapshots


async def test_deleting_a_strategy_deletes_its_payloads(replayed, tmp_path: Path) -> None:
    path, pairs = replayed
    sid = pairs[0][0].strategy_id
    async with StrategyService.open(Settings(db_path=path, shutdown_grace_s=5)) as svc:
        await svc.stop(sid)
        await svc.delete(sid)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM payloads").fetchone()[0] == 0


async def test_cycles_written_before_the_migration_read_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    originals = [_llm_cycle(i) for i in range(2)]
    _write_version_2_database(path, originals)
    db = await Database.open(path)  # migrates to the compact format
    try:
        cycles = CycleRepository(db)
        for original in originals:
            assert await cycles.get(original.compose_id) == original
        assert await cycles.latest_ledger("s_llm") == (_ledger(), originals[-1].ts)
        newer = await _strategy_with_cycles(db, "s_new", [_llm_cycle(7, "s_new")])
        assert await newer.get(f"c_{7:032x}") == _llm_cycle(7, "s_new")
    finally:
        await db.close()


def test_format_1_payloads_stay_readable() -> None:
    """Bytes written by this version must read back in every later one (the preset dictionary
    is part of the stored format)."""
    written = bytes.fromhex(PACKED_V1)
    assert unpack(written) == b'{"values":{"price":101.5,"high":102.0,"low":99.0}}'
    assert unpack(pack(b'{"a":1}')) == b'{"a":1}'
    assert unpack('{"legacy":"text"}') == '{"legacy":"text"}'


PACKED_V1 = "01c312318606867aa6b0d83134300225477014595a02a3bd1600"
"""What format 1 made of that snapshot's JSON when it was introduced."""


# ----------------------------------------------------------------------------- helpers


def _llm_cycle(i: int, strategy_id: str = "s_llm") -> CycleResult:
    from tests.fakes import candle_features, snapshot

    return CycleResult(
        compose_id=f"c_{i:032x}",
        strategy_id=strategy_id,
        ts=1_700_000_000_000 + i * 3_600_000,
        slot_ts=1_700_000_000_000 + i * 3_600_000,
        features=[snapshot("BTC-USDT", 100.0 + i), candle_features("BTC-USDT", "4h", rsi=41.5)],
        rationale=f"cycle {i}",
        raw={
            "prompt": {"system": SYSTEM, "user": f"cycle {i}: BTC at {100 + i}"},
            "reply": {"rationale": "hold", "items": []},
            "attempts": 1,
        },
        strategy_summary={  # type: ignore[arg-type]
            "strategy_id": strategy_id,
            "ts": 1_700_000_000_000 + i * 3_600_000,
            "equity": 1000.0,
            "cash": 1000.0,
            "realized_pnl": 0.0,
            "unrealized_pnl": 0.0,
            "fees_paid": 0.0,
            "total_return_pct": 0.0,
            "open_positions": 0,
        },
    )


async def _strategy_with_cycles(
    db: Database, strategy_id: str, results: list[CycleResult]
) -> CycleRepository:
    await StrategyRepository(db).insert(
        strategy_id=strategy_id,
        name=strategy_id,
        agent_kind="default",
        request=replay_request(),
        replay=None,
        owner="~owner",
    )
    cycles = CycleRepository(db)
    for result in results:
        await cycles.insert(result, kind="decision", ledger=_ledger())
    return cycles


def _ledger() -> Ledger:
    from decimal import Decimal

    from tradeloop.trading.models import MarketType

    return Ledger.open_account(MarketType.SPOT, Decimal(1000))


def _write_version_2_database(path: Path, results: list[CycleResult]) -> None:
    """A database as tradeloop wrote it before migration 0003: cycle JSON as text columns."""
    from tradeloop.store.strategies import request_to_json

    conn = sqlite3.connect(path)
    for migration in load_migrations()[:2]:
        conn.executescript(migration.sql)
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (1, 'init', 0), (2, 'live_intents', 0);"
    )
    conn.execute(
        "INSERT INTO strategies (id, name, agent_kind, request_json, status, created_at,"
        " updated_at) VALUES ('s_llm', 's_llm', 'default', ?, 'stopped', 1, 1)",
        (request_to_json(replay_request()),),
    )
    for r in results:
        conn.execute(
            "INSERT INTO cycles (compose_id, strategy_id, slot_ts, ts, kind, status, rationale,"
            " features_json, raw_json, summary_json, ledger_json, portfolio_ts, equity,"
            " n_proposed, n_instructions, n_notes, n_tx, n_fills, n_trades, recorded_at)"
            " VALUES (?, ?, ?, ?, 'decision', 'ok', ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0)",
            (
                r.compose_id,
                r.strategy_id,
                r.slot_ts,
                r.ts,
                r.rationale,
                to_json([v.model_dump(mode="json") for v in r.features]).decode(),
                to_json(r.raw).decode(),
                r.strategy_summary.model_dump_json(),
                ledger_to_json(_ledger()),
                r.ts,
                r.strategy_summary.equity,
            ),
        )
    conn.commit()
    conn.close()
