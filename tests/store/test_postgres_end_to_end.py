"""``tradeloop run`` and ``tradeloop serve`` on a ``postgresql://`` URL, as a user runs them:
cycles run and are stored, a restart resumes from the database, and every strategy's books
reconcile exactly (cash + positions = equity, equal to the replay of its stored fills)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from mcp import Client, StdioServerParameters

from tests.pg_cluster import Cluster
from tests.services.helpers import perpetual_request, replay_request
from tests.store_backends import StoreTarget, stored_ledger_mismatches
from tradeloop.trading.models import MarketType

REPO = Path(__file__).resolve().parents[2]


def tradeloop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    return subprocess.run(
        [sys.executable, "-m", "tradeloop", "--log-level", "WARNING", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=300,
    )


async def reconcile(target: StoreTarget) -> dict[str, tuple[int, int]]:
    """Per strategy name: (cycles, cycles whose books do not reconcile)."""
    found = {}
    async with target.open() as store:
        for row in await store.strategies.all():
            bad = await stored_ledger_mismatches(store, row.id, row.request)
            latest = await store.cycles.latest_ledger(row.id)
            assert latest is not None
            ledger = latest[0]
            spot = ledger.market_type is MarketType.SPOT
            positions = sum(
                (
                    p.quantity * (p.mark_price or p.cost / p.quantity)
                    - (Decimal(0) if spot else p.cost)
                    for p in ledger.positions.values()
                ),
                Decimal(0),
            )
            bad += ledger.cash + positions != ledger.equity
            record = await store.cycles.stats(row.id)
            assert record[1] is not None
            bad += record[1].equity != float(ledger.equity)
            found[row.name] = (await store.cycles.count(row.id), bad)
    return found


def test_tradeloop_run_on_postgresql_runs_resumes_and_reconciles_every_strategy_exactly(
    tmp_path: Path, shared_data: Path, postgres_cluster: Cluster
) -> None:
    target = StoreTarget("postgresql", tmp_path / "unused.db", postgres_cluster.create_database())
    configs = []
    for name, request in (
        ("spot", replay_request(strategy_name="spot")),
        ("perp", perpetual_request(strategy_name="perp")),
    ):
        configs += ["--config", str(tmp_path / f"{name}.json")]
        Path(configs[-1]).write_text(request.model_dump_json())
    args = ("run", *configs, "--db", target.db, "--replay", str(shared_data))

    first = tradeloop(*args, "--max-cycles", "8")
    second = tradeloop(*args, "--max-cycles", "4")

    for run, cycles in ((first, 8), (second, 4)):
        assert run.returncode == 0, run.stderr
        assert len([x for x in run.stderr.splitlines() if x.startswith("cycle ")]) == 2 * cycles
    assert asyncio.run(reconcile(target)) == {"spot": (12, 0), "perp": (12, 0)}


async def test_tradeloop_serve_on_postgresql_runs_cycles_over_stdio_and_survives_a_restart(
    tmp_path: Path, shared_data: Path, postgres_cluster: Cluster
) -> None:
    url = postgres_cluster.create_database()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tradeloop", "serve", "--replay", str(shared_data), "--db", url],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)},
        cwd=str(tmp_path),
    )
    async with Client(params, mode="legacy") as client:
        created = await client.call_tool(
            "create_strategy", {"symbols": ["BTC-USDT", "ETH-USDT"], "initial_capital": 10_000}
        )
        sid = created.structured_content["strategy_id"]
        for _ in range(3):
            cycle = await client.call_tool("run_cycle_now", {"strategy_id": sid})
            assert not cycle.is_error and cycle.structured_content["status"] == "ok"
        before = (await client.call_tool("get_portfolio", {"strategy_id": sid})).structured_content
    async with Client(params, mode="legacy") as client:
        after = (await client.call_tool("get_portfolio", {"strategy_id": sid})).structured_content
        listed = (await client.call_tool("list_strategies", {})).structured_content
    assert after == before
    assert listed["strategies"][0]["cycles"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written beside it
    target = StoreTarget("postgresql", tmp_path / "unused.db", url)
    books = await reconcile(target)
    assert books[created.structured_content["name"]] == (3, 0)
