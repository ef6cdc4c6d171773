"""Closes stored before each fee appeared once (their fee_cost held the round trip's fees) are
rewritten by the migration so that list_trades sums to fees_paid, as for new closes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.services.helpers import replay_request
from tests.tools.agents import FlipAgent
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.store.db import load_migrations

AGE_CLOSES = """UPDATE trades SET
    fee_cost = json_extract(body_json, '$.round_trip_fees'),
    body_json = json_remove(
        json_set(body_json, '$.fee_cost', json_extract(body_json, '$.round_trip_fees')),
        '$.round_trip_fees'
    )
WHERE exit_price IS NOT NULL"""
"""What the previous version stored for a close: the round trip's fees as its fee_cost."""


async def test_closes_stored_with_round_trip_fees_are_rewritten_so_each_fee_appears_once(
    tmp_path: Path, shared_data: Path
) -> None:
    settings = Settings(db_path=tmp_path / "t.db")
    async with StrategyService.open(settings, agents={"default": FlipAgent()}) as service:
        sid = (await service.create(replay_request(), replay=shared_data)).strategy_id
        for _ in range(5):  # open, close, open, close, open on both symbols
            await service.run_cycle_now(sid)
        current = (await service.list_trades(sid, limit=500)).items
        fees_paid = (await service.get_portfolio(sid)).fees_paid
    [migration] = [m for m in load_migrations() if m.name == "trade_fees_once"]
    conn = sqlite3.connect(settings.db_path)
    with conn:
        conn.execute(AGE_CLOSES)
    aged = conn.execute("SELECT SUM(fee_cost) FROM trades").fetchone()[0]
    assert aged > fees_paid * 1.2  # the entry fees counted twice
    conn.executescript(migration.sql)
    conn.close()
    async with StrategyService.open(settings) as service:
        migrated = (await service.list_trades(sid, limit=500)).items
    assert sum(t.fee_cost for t in migrated) == pytest.approx(fees_paid, rel=1e-12)
    assert [t.trade_id for t in migrated] == [t.trade_id for t in current]
    for before, after in zip(current, migrated, strict=True):
        assert after.fee_cost == pytest.approx(before.fee_cost, rel=1e-12)
        if before.round_trip_fees is None:
            assert after.round_trip_fees is None
        else:
            assert after.round_trip_fees == pytest.approx(before.round_trip_fees, rel=1e-12)
