"""Crash safety: ``tradeloop run`` with three replay strategies in a real subprocess, killed with
SIGKILL at random moments and at the named crash points inside a cycle, restarted each time.

At the end: no slot ran twice, no replay slot was skipped, no cycle is half-written, every
strategy that was running was running again after each restart, and every stored ledger equals
the replay of the fills stored up to it, exactly.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services.helpers import (
    connect_readonly,
    duplicate_slots,
    half_written_cycles,
    ledger_mismatches,
    perpetual_request,
    replay_request,
    slot_gaps,
)
from tradeloop.testing.crashpoints import CRASH_AFTER_ENV, CRASH_AT_ENV, POINTS
from tradeloop.trading.models import UserRequest

RANDOM_KILLS = 32
KILLS_PER_POINT = 4
LINE_TIMEOUT_S = 60.0
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Report:
    kills: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    resumed_ok: int = 0

    def count(self, kind: str) -> None:
        self.kills[kind] = self.kills.get(kind, 0) + 1


def strategies() -> dict[str, UserRequest]:
    return {
        "spot-btc-eth": replay_request(strategy_name="spot-btc-eth"),
        "spot-sol-bnb": replay_request(
            strategy_name="spot-sol-bnb", symbols=["SOL-USDT", "BNB-USDT"], decide_interval=7200
        ),
        "perp-btc-sol": perpetual_request(strategy_name="perp-btc-sol"),
    }


class Child:
    """One ``tradeloop run`` process; its progress lines are read as they come (no sleeps)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=REPO
        )
        assert self.proc.stderr is not None
        os.set_blocking(self.proc.stderr.fileno(), False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stderr, selectors.EVENT_READ)
        self._buffer = b""
        self.lines: list[str] = []

    def next_line(self, timeout: float = LINE_TIMEOUT_S) -> str | None:
        """The next stderr line, or None once the process closed stderr (it exited)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"no output for {timeout} s; last lines: {self.lines[-5:]}"
            if not self._selector.select(left):
                continue
            chunk = self.proc.stderr.read()  # type: ignore[union-attr]
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        text = line.decode(errors="replace")
        self.lines.append(text)
        return text

    def wait_cycles(self, names: set[str], extra: int) -> None:
        """Until every one of ``names`` ran a cycle in this process, then ``extra`` more cycles."""
        seen: set[str] = set()
        more = extra
        while seen != names or more > 0:
            line = self.next_line()
            assert line is not None, f"exited early: {self.lines[-5:]}"
            if line.startswith("cycle name="):
                name = line.split()[1].removeprefix("name=")
                if seen == names:
                    more -= 1
                seen.add(name)

    def drain(self, timeout: float = LINE_TIMEOUT_S) -> int:
        while self.next_line(timeout) is not None:
            pass
        return self.proc.wait(timeout)

    def kill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.drain()


def launch(configs: list[Path], db: Path, data: Path, crash: dict[str, str] | None) -> Child:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    env.update(crash or {})
    args = [sys.executable, "-m", "tradeloop", "--log-level", "WARNING", "run"]
    for path in configs:
        args += ["--config", str(path)]
    return Child([*args, "--db", str(db), "--replay", str(data)], env)


def running_names(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with connect_readonly(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM strategies WHERE status='running'")}


def test_sigkill_at_random_moments_and_inside_cycles_never_loses_or_repeats_a_cycle(
    tmp_path: Path, shared_data: Path
) -> None:
    rng = random.Random(20260416)
    requests = strategies()
    configs = []
    for name, request in requests.items():
        path = tmp_path / f"{name}.json"
        path.write_text(request.model_dump_json())
        configs.append(path)
    db = tmp_path / "crash.db"
    names = set(requests)
    report = Report()

    def restart_and_kill(crash: dict[str, str] | None, kind: str) -> None:
        was_running = running_names(db)
        child = launch(configs, db, shared_data, crash)
        report.restarts += 1
        if crash is None:
            child.wait_cycles(names, extra=rng.randint(0, 60))
            assert running_names(db) >= was_running, "a running strategy did not come back"
            report.resumed_ok += 1
            assert child.kill() == -signal.SIGKILL
        else:
            assert child.drain() == -signal.SIGKILL, child.lines[-5:]
        report.count(kind)

    for _ in range(RANDOM_KILLS):
        restart_and_kill(None, "random")
    for point in POINTS:
        for _ in range(KILLS_PER_POINT):
            after = str(rng.randint(1, 40))
            restart_and_kill({CRASH_AT_ENV: point, CRASH_AFTER_ENV: after}, point)

    final = launch(configs, db, shared_data, None)
    final.wait_cycles(names, extra=5)
    final.proc.send_signal(signal.SIGTERM)
    assert final.drain() == 0, final.lines[-5:]

    with connect_readonly(db) as conn:
        rows = conn.execute("SELECT id, name, status, reason, request_json FROM strategies")
        stored = {r["name"]: r for r in rows}
        cycles = conn.execute("SELECT COUNT(*) FROM cycles").fetchone()[0]
        duplicates = duplicate_slots(conn)
        half = half_written_cycles(conn)
        gaps = mismatches = 0
        for name, request in requests.items():
            sid = stored[name]["id"]
            gaps += slot_gaps(conn, sid, request.trading_config.decide_interval * 1000)
            mismatches += ledger_mismatches(conn, sid, request)
        fills = conn.execute("SELECT COUNT(*) FROM tx_results WHERE filled_qty > 0").fetchone()[0]
    summary = {
        "kills": sum(report.kills.values()),
        "by_kind": report.kills,
        "restarts": report.restarts,
        "cycles": cycles,
        "fills": fills,
        "duplicates": duplicates,
        "skipped_slots": gaps,
        "half_written": half,
        "mismatches": mismatches,
    }
    print("crash-safety report:", json.dumps(summary))
    assert summary["kills"] >= 30 + len(POINTS)
    assert report.resumed_ok == RANDOM_KILLS
    assert duplicates == 0 and gaps == 0 and half == 0 and mismatches == 0
    assert fills > 0
    assert {r["status"] for r in stored.values()} == {"paused"}
    assert all(r["reason"] == "interrupted by SIGTERM" for r in stored.values())
