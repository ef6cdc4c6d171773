"""SIGKILL the live server at random moments and at named points, 30+ times, then check the venue.

The fake Binance USDT-M venue runs in this test process (HTTPS on 127.0.0.1); the server runs in
forked worker processes (see ``crash_worker``) that are killed and restarted over one SQLite file.
Between runs the venue scripts faults: accept-then-timeout, orders invisible for a few lookups,
timeouts before acceptance, rate-limited creates. Afterwards: no client order id appears twice at
the venue, every intent is final, every venue order has its intent, and the positions the store
adds up equal the venue's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.execution.fake_exchange.binance import BinanceDialect
from tests.execution.fake_exchange.engine import Faults
from tests.execution.fake_exchange.transport import FakeVenueServer, make_certs
from tests.execution.harness import SENTINEL_KEY, SENTINEL_SECRET, fake_account
from tradeloop.trading.execution.intents import IntentStatus
from tradeloop.trading.models import MarketType

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
MIN_KILLS = 30
MAX_RUNS = 80
SEED = 20261201
NAMED_POINTS = ("after_intent_commit", "after_exchange_accept")
LINE_TIMEOUT_S = 30.0
D = Decimal


@dataclass
class RunResult:
    sigkill: bool
    code: int | None
    events: list[dict[str, Any]] = field(default_factory=list)
    kind: str = ""

    def ready(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == "ready"), None)


class ForkServer:
    """Drives ``crash_worker``'s fork server over stdin/stdout, one run at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def start(cls, env: dict[str, str]) -> ForkServer:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.live.crash_worker",
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def run(self, env: dict[str, str], kill_after_ready_s: float | None) -> RunResult:
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"env": env}) + "\n").encode())
        await self._proc.stdin.drain()
        events, pid, killer = [], None, None
        while True:
            event = await self._line()
            events.append(event)
            if event["event"] == "forked":
                pid = event["pid"]
            elif event["event"] == "ready" and kill_after_ready_s is not None and pid:
                killer = asyncio.create_task(_kill_later(pid, kill_after_ready_s))
            elif event["event"] == "exit":
                if killer is not None:
                    killer.cancel()
                return RunResult(bool(event["sigkill"]), event["code"], events)

    async def stop(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        await asyncio.wait_for(self._proc.wait(), LINE_TIMEOUT_S)

    async def _line(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        raw = await asyncio.wait_for(self._proc.stdout.readline(), LINE_TIMEOUT_S)
        if not raw:
            raise AssertionError("the fork server died")
        return json.loads(raw)


async def _kill_later(pid: int, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it finished first


def _plan(rng: random.Random) -> tuple[dict[str, str], float | None, Faults]:
    """Crash env, optional kill delay after "ready", and the venue's faults for one run."""
    faults = Faults()
    if rng.random() < 0.35:
        faults.accept_then_timeout = 1
        faults.hide_for_lookups = rng.randint(0, 3)
    if rng.random() < 0.15:
        faults.timeout_before_accept = 1
    if rng.random() < 0.15:
        faults.rate_limit_next, faults.rate_limit_paths = 1, ("POST /fapi/v1/order",)
    roll = rng.random()
    if roll < 0.45:
        env = {
            "TRADELOOP_CRASH_AT": rng.choice(NAMED_POINTS),
            "TRADELOOP_CRASH_AFTER": str(rng.randint(1, 3)),
        }
        return env, None, faults
    if roll < 0.9:
        return {}, rng.uniform(0.0, 0.5), faults
    return {}, None, faults


async def test_sigkills_leave_one_order_per_instruction_and_positions_equal_to_the_venues(
    tmp_path: Path,
) -> None:
    account = fake_account("binance", MarketType.PERPETUAL, cash=D("10000000"))
    dialect = BinanceDialect(account)
    rng = random.Random(SEED)
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")},
        "PYTHONPATH": str(REPO),
        "TRADELOOP_CRASHTEST_API_KEY": SENTINEL_KEY,
        "TRADELOOP_CRASHTEST_SECRET": SENTINEL_SECRET,
    }
    certs = make_certs(tmp_path)
    runs: list[RunResult] = []
    async with FakeVenueServer(dialect, certs, hold_s=0.8) as server:
        common = {
            "CRASH_DB": str(tmp_path / "live.db"),
            "CRASH_PORT": str(server.port),
            "CRASH_CAFILE": str(certs[0]),
        }
        workers = await ForkServer.start({**base_env, **common})
        try:
            while sum(r.sigkill for r in runs) < MIN_KILLS and len(runs) < MAX_RUNS:
                env, kill_after, account.faults = _plan(rng)
                n = len(runs)
                env |= {"CRASH_SEED": str(n), "CRASH_LOG_FILE": str(tmp_path / f"run{n}.log")}
                result = await workers.run(env, kill_after)
                result.kind = env.get("TRADELOOP_CRASH_AT") or (
                    "random" if kill_after is not None else "none"
                )
                runs.append(result)
            account.faults = Faults()
            final_env = {"CRASH_CYCLES": "0", "CRASH_LOG_FILE": str(tmp_path / "final.log")}
            final = await workers.run(final_env, None)
        finally:
            await workers.stop()

    kills = sum(r.sigkill for r in runs)
    kills_by_kind = Counter(r.kind for r in runs if r.sigkill)
    settled_on_restart = sum(r["settled"] for r in (x.ready() for x in [*runs, final]) if r)
    readies = [r.ready() for r in [*runs, final] if r.ready()]
    mismatched = [r for r in readies if not r["ok"]]
    intents = _intents(tmp_path / "live.db")
    at_venue = account.orders_by_client_id()
    placed = {cid for cid, row in intents.items() if row["status"] in ("filled", "partial")}
    logger.warning(
        "crash test: %d runs, %d SIGKILLs %s, %d intents settled on restart, %d venue orders, "
        "%d intents (%s), %d duplicates, %d mismatches",
        len(runs),
        kills,
        dict(kills_by_kind),
        settled_on_restart,
        len(account.orders),
        len(intents),
        dict(Counter(row["status"] for row in intents.values())),
        len(account.duplicates()),
        len(mismatched),
    )
    assert kills >= MIN_KILLS, [r.code for r in runs]
    assert all(kills_by_kind[point] >= 3 for point in NAMED_POINTS), kills_by_kind
    assert kills_by_kind["random"] >= 5 and settled_on_restart >= 3
    assert final.code == 0 and final.ready() is not None and final.ready()["ok"], final.events
    assert mismatched == []
    assert account.duplicates() == {}  # 0 duplicates: one venue order per client order id
    assert all(IntentStatus(row["status"]).final for row in intents.values())
    assert set(at_venue) == placed  # every venue order has its settled intent, and back
    assert _stored_positions(intents) == _venue_positions(account)
    assert len(placed) >= 20  # the runs really traded
    for log in tmp_path.glob("*.log"):
        text = log.read_text()
        assert SENTINEL_KEY not in text and SENTINEL_SECRET not in text, log.name
    assert any("Request" in log.read_text() for log in tmp_path.glob("run*.log"))


def _intents(path: Path) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM live_intents").fetchall()
    finally:
        conn.close()
    return {row["client_order_id"]: row for row in rows}


def _stored_positions(intents: dict[str, sqlite3.Row]) -> dict[str, Decimal]:
    total = Decimal(0)
    for row in intents.values():
        filled = Decimal(row["filled_base"])
        total += filled if row["side"] == "BUY" else -filled
    return {"BTC-USDT": total}


def _venue_positions(account: Any) -> dict[str, Decimal]:
    return {"BTC-USDT": account.base_position("BTCUSDT")}
