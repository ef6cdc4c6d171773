"""Replicas at scale: N paper strategies shared by 1, 2 and 3 ``tradeloop serve --http`` processes
on one PostgreSQL database, and the same N in one process on a SQLite file.

Every strategy replays real hourly candles (a pair of BTC, ETH, SOL, BNB on Binance spot; rule
composer; 1h and 4h features) paced so that a slot comes every ``--slot-s`` seconds of wall time,
all of them on the same boundary (multiples of the slot since the epoch). The strategies are
stored as running; the replicas take them by lease (PostgreSQL) or resume them at start (SQLite).
Once every strategy has cycled, a steady window of ``--seconds`` is measured from the stored cycles:

- cycles per second: cycles stored in the window / its length (and the slots due meanwhile);
- slot delay: when the cycle was stored (``recorded_at``) minus its slot boundary, p50/p99/max.
  It is the start delay plus the cycle's own time (a few ms here), read modulo the slot, so it
  holds while the replicas keep up: a "slots run" figure under 100 % says they did not.

It also checks the whole run: no (strategy, slot) stored twice, every slot of every strategy a
cycle or a recorded skip, no error cycle, and counts the second attempts at a slot the database
refused (``slot already ran`` in the replicas' logs). Without ``--pg`` it starts a throwaway
PostgreSQL cluster as ``tests/pg_cluster.py`` does (``fsync=off``: a durable server pays a WAL
flush per commit on top).

    .venv/bin/python bench/scale.py [--strategies 300] [--seconds 30] [--slot-s 1]
        [--replicas 1,2,3] [--no-sqlite] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

HOUR_S = 3600
PAIRS = [
    ["BTC-USDT", "ETH-USDT"],
    ["ETH-USDT", "SOL-USDT"],
    ["SOL-USDT", "BNB-USDT"],
    ["BNB-USDT", "BTC-USDT"],
]
REFUSED = "slot already ran"
"""What a replica logs when the database refuses a second cycle for a stored slot."""
LOST = "lease lost"
"""What a replica logs for each strategy whose lease it could not renew in time."""


@dataclass
class Case:
    store: str
    db: str
    replicas: int
    slot_s: float | None
    """Wall seconds per slot; None: replays back to back (as fast as cycles compute)."""


@dataclass
class Figures:
    case: Case
    seconds: float = 0.0
    cycles: int = 0
    due: float = 0.0
    delays_ms: list[int] = field(default_factory=list)
    shares: list[int] = field(default_factory=list)
    duplicates: int = 0
    gaps: int = 0
    errors: int = 0
    refused: int = 0
    lost: int = 0
    cycled: int = 0
    """Strategies that stored a cycle before the window (all of them unless they never settled)."""
    settle_s: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)

    def delay(self, pct: float) -> float:
        ordered = sorted(self.delays_ms)
        if not ordered:
            return float("nan")
        return float(ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))])


def request(i: int):  # type: ignore[no-untyped-def]
    from tradeloop.trading.models import UserRequest

    return UserRequest.model_validate(
        {
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": PAIRS[i % len(PAIRS)],
                "feature_intervals": ["1h", "4h"],
                "decide_interval": HOUR_S,
                "rules": {"rsi_buy_below": 45, "rsi_sell_above": 55, "position_size_pct": 0.3},
            }
        }
    )


def settings(db: str):  # type: ignore[no-untyped-def]
    from tradeloop.settings import Settings

    return Settings.from_env({}, db_path=db)


async def create(db: str, n: int, slot_s: float | None) -> list[str]:
    """``n`` replay strategies (status created) in an empty store; their ids."""
    from tradeloop.services.models import ReplaySpec
    from tradeloop.services.strategies import StrategyService
    from tradeloop.trading.models import StrategyStatus

    spec = ReplaySpec(data_dir=str(DATA), venue="binance_spot", speed=slot_s and HOUR_S / slot_s)
    async with StrategyService.open(settings(db), resume=False) as svc:
        for info in await svc.list():  # a database given with --pg: emptied first
            await svc.store.strategies.delete(info.strategy_id, allowed_from=set(StrategyStatus))
        made = [await svc.create(request(i), name=f"scale-{i}", replay=spec) for i in range(n)]
    return [info.strategy_id for info in made]


async def set_running(db: str, ids: Sequence[str]) -> None:
    """Store the strategies as running without starting them anywhere: the replicas take them
    (by lease on PostgreSQL, at start on SQLite), as after a restart."""
    from tradeloop.store.backend import open_store
    from tradeloop.trading.models import StrategyStatus

    s = settings(db)
    url = None if s.db_url is None else s.db_url.get_secret_value()
    async with open_store(s.db_path, url, exclusive=False) as store:
        for sid in ids:
            await store.strategies.transition(
                sid,
                StrategyStatus.RUNNING,
                None,
                action="start",
                allowed_from={StrategyStatus.CREATED},
            )


@asynccontextmanager
async def reading(db: str) -> AsyncIterator[Any]:
    """The store's rows (``fetchall`` with ``?`` parameters on either backend), beside the
    replicas (no exclusive lock on a SQLite file)."""
    from tradeloop.store.backend import open_store

    s = settings(db)
    url = None if s.db_url is None else s.db_url.get_secret_value()
    async with open_store(s.db_path, url, exclusive=False) as store:
        yield store.rows


async def query(db: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    async with reading(db) as rows:
        return list(await rows.fetchall(sql, params))


# ---------------------------------------------------------------------------- replica processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def replicas(db: str, count: int, logs: Path) -> Iterator[list[Path]]:
    """``count`` ``tradeloop serve --http`` processes on ``db``, ready; SIGTERM at exit. Yields
    their stderr logs."""
    exe = Path(sys.executable).parent / "tradeloop"
    env = {**os.environ, "TRADELOOP_DB": db}
    env.pop("TRADELOOP_REPLAY_DIR", None)
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    paths = [logs / f"replica-{i}.log" for i in range(count)]
    try:
        for path in paths:
            port = free_port()
            with path.open("wb") as err:
                cmd = [str(exe), "serve", "--http", "--port", str(port)]
                procs.append((subprocess.Popen(cmd, env=env, stderr=err, stdout=err), port))
        for proc, port in procs:
            wait_ready(proc, port)
        yield paths
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"a replica exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    sys.exit(f"a replica was not ready within {timeout_s:.0f} s")


# ---------------------------------------------------------------------------- one case


async def wait_all_cycled(db: str, n: int, since_ms: int, timeout_s: float) -> int:
    """How many strategies stored a cycle since ``since_ms``: all ``n`` or, after
    ``timeout_s``, as many as did (the run goes on: the figures then show why)."""
    deadline = time.monotonic() + timeout_s
    sql = "SELECT COUNT(DISTINCT strategy_id) FROM cycles WHERE recorded_at >= ?"
    cycled = 0
    async with reading(db) as rows:
        while time.monotonic() < deadline and cycled < n:
            await asyncio.sleep(0.5)
            cycled = int((await rows.fetchall(sql, (since_ms,)))[0][0])
    return cycled


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def run_case(case: Case, args: argparse.Namespace, logs: Path) -> Figures:
    figures = Figures(case, load=(os.getloadavg()[0], 0.0))
    started = time.monotonic()
    ids = await create(case.db, args.strategies, case.slot_s)
    progress(f"  {len(ids)} strategies created in {time.monotonic() - started:.0f} s")
    shared = case.store == "postgresql"
    if not shared:
        await set_running(case.db, ids)  # one process: it resumes them all at start
    with replicas(case.db, case.replicas, logs) as paths:
        since = now_ms()
        if shared:
            await set_running(case.db, ids)  # every replica is up: each takes its share
        figures.cycled = await wait_all_cycled(case.db, len(ids), since, args.settle_s)
        figures.settle_s = (now_ms() - since) / 1000
        progress(f"  {figures.cycled} of {len(ids)} cycled after {figures.settle_s:.0f} s")
        await asyncio.sleep(args.warm_s)
        start, end = window(now_ms(), args.seconds, case.slot_s)
        await asyncio.sleep((end - now_ms()) / 1000 + 0.5)
        if shared:
            rows = await query(case.db, "SELECT owner, COUNT(*) FROM leases GROUP BY owner")
            figures.shares = sorted((int(r[1]) for r in rows), reverse=True)
    figures.load = (figures.load[0], os.getloadavg()[0])
    texts = [p.read_text(errors="replace") for p in paths]
    figures.refused = sum(text.count(REFUSED) for text in texts)
    figures.lost = sum(text.count(LOST) for text in texts)
    if figures.cycled < len(ids):
        progress("".join(f"--- {p.name}:\n{tail(p)}\n" for p in paths))
    await measure(figures, start, end, len(ids))
    await check(figures)
    return figures


def window(now: int, seconds: float, slot_s: float | None) -> tuple[int, int]:
    """[start, end) in ms from ``now``: paced, whole slots from the next boundary (a cycle
    stored in it is one of its slots' as long as the delay stays under a slot)."""
    if slot_s is None:
        return now, now + round(seconds * 1000)
    slot_ms = round(slot_s * 1000)
    start = now - now % slot_ms + slot_ms
    return start, start + max(1, round(seconds / slot_s)) * slot_ms


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def measure(figures: Figures, start: int, end: int, n: int) -> None:
    rows = await query(
        figures.case.db,
        "SELECT recorded_at FROM cycles WHERE recorded_at >= ? AND recorded_at < ?",
        (start, end),
    )
    figures.seconds = (end - start) / 1000
    figures.cycles = len(rows)
    slot_s = figures.case.slot_s
    if slot_s is not None:
        figures.due = n * figures.seconds / slot_s
        figures.delays_ms = [int(r[0]) % round(slot_s * 1000) for r in rows]


async def check(figures: Figures) -> None:
    """Over the whole run: duplicates, slots neither a cycle nor a skip, error cycles."""
    db = figures.case.db
    dup = "SELECT COUNT(*) FROM (SELECT 1 FROM cycles GROUP BY strategy_id, slot_ts"
    figures.duplicates = int((await query(db, dup + " HAVING COUNT(*) > 1) d"))[0][0])
    errors = "SELECT COUNT(*) FROM cycles WHERE status = 'error'"
    figures.errors = int((await query(db, errors))[0][0])
    rows = await query(
        db,
        "SELECT strategy_id, slot_ts, status, reason FROM cycles WHERE slot_ts IS NOT NULL"
        " ORDER BY strategy_id, slot_ts",
    )
    figures.gaps = count_gaps([(r[0], int(r[1]), r[2], r[3]) for r in rows], HOUR_S * 1000)


def count_gaps(rows: Sequence[tuple[str, int, str, str | None]], step_ms: int) -> int:
    """Consecutive stored slots of a strategy more than one step apart, unless the earlier row
    is a skip that names the slots it stands for ("missed N slot(s) ...")."""
    gaps = 0
    for prev, row in zip(rows, rows[1:], strict=False):
        if prev[0] != row[0]:
            continue
        steps = (row[1] - prev[1]) // step_ms
        covered = missed(prev[3]) if prev[2] == "skipped" else 0
        gaps += steps != 1 + covered
    return gaps


def missed(reason: str | None) -> int:
    if reason and reason.startswith("missed "):
        return int(reason.split()[1])
    return 0


# ---------------------------------------------------------------------------- the report


def report(all_figures: Sequence[Figures], args: argparse.Namespace) -> None:
    print(
        f"{args.strategies} paper replay strategies (rule composer, 2 symbols, 1h + 4h features);"
        f" paced: a slot every {args.slot_s:g} s of wall time; {args.seconds:g} s windows"
    )
    head = f"{'store':<11}{'replicas':>9}{'cycles/s':>10}  |{'slots run':>10}"
    head += f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}  {'leases':<13}{'load':>11}"
    print(head)
    for flat, paced in zip(all_figures[::2], all_figures[1::2], strict=True):
        shares = "/".join(str(s) for s in paced.shares) if paced.shares else "-"
        line = f"{flat.case.store:<11}{flat.case.replicas:>9}{flat.cycles / flat.seconds:>10.1f}"
        line += f"  |{paced.cycles / paced.due:>10.0%}{paced.delay(50):>8.0f}"
        line += f"{paced.delay(99):>8.0f}{paced.delay(100):>8.0f}  {shares:<13}"
        line += f"{flat.load[0]:>5.1f}>{paced.load[1]:<5.1f}"
        print(line)
    print(
        "cycles/s: back to back; slots run and slot delay (cycle stored minus its slot boundary):"
        " paced; leases: strategies per replica; load: 1-min load average before > after"
    )
    for f in all_figures:
        verdict = "ok" if not (f.duplicates or f.gaps or f.errors) else "FAILED"
        pace = "back to back" if f.case.slot_s is None else "paced"
        print(
            f"check {f.case.store} x{f.case.replicas} {pace}: {verdict}: {f.duplicates} duplicate"
            f" slots, {f.gaps} slots neither a cycle nor a skip, {f.errors} error cycles;"
            f" {f.refused} second attempts refused by the database; {f.lost} leases lost;"
            f" {f.cycled} of {args.strategies} strategies cycling after {f.settle_s:.0f} s"
        )


@contextmanager
def postgres(url: str | None) -> Iterator[Any]:
    """``url`` as it is, or a throwaway cluster (see ``tests/pg_cluster.py``)."""
    if url is not None:
        yield None
        return
    from tests.pg_cluster import throwaway_cluster

    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except BaseException as exc:  # pytest's skip/fail outcomes carry the reason
        if type(exc).__module__.startswith("_pytest"):
            sys.exit(f"PostgreSQL: {exc}")
        raise


async def run_all(args: argparse.Namespace, cluster: Any, tmp: Path) -> list[Figures]:
    """Each setup twice, back to back then paced (``report`` pairs them in that order)."""
    setups = [("sqlite", 1)] if not args.no_sqlite else []
    setups += [("postgresql", count) for count in args.replicas]
    results = []
    for store, count in setups:
        for slot_s in (None, args.slot_s):
            if store == "sqlite":
                db = str(tmp / f"scale-{len(results)}.db")
            else:
                db = args.pg if args.pg else cluster.create_database()
            logs = (args.logs or tmp) / f"{store}-{count}-{'paced' if slot_s else 'flat'}"
            logs.mkdir(parents=True)
            pace = "back to back" if slot_s is None else "paced"
            progress(f"{store} x{count} {pace}:")
            results.append(await run_case(Case(store, db, count, slot_s), args, logs))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    parser.add_argument("--warm-s", type=float, default=5.0, help="after every strategy cycled")
    parser.add_argument(
        "--settle-s", type=float, default=120.0, help="at most this long for every one to cycle"
    )
    parser.add_argument("--slot-s", type=float, default=2.0, help="paced: wall s per slot")
    parser.add_argument(
        "--replicas",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 2, 3],
        help="PostgreSQL cases, comma separated (default 1,2,3)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite case")
    parser.add_argument("--logs", type=Path, help="keep the replicas' logs in this folder")
    parser.add_argument("--pg", help="postgresql:// URL of a database this bench may empty")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # replicas and cluster stop too
    if not DATA.is_dir():
        sys.exit(f"needs the real candles in {DATA}")
    with ExitStack() as stack:
        cluster = stack.enter_context(postgres(args.pg)) if args.replicas else None
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tradeloop-scale-")))
        figures = asyncio.run(run_all(args, cluster, tmp))
    report(figures, args)
    return 1 if any(f.duplicates or f.gaps or f.errors for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
