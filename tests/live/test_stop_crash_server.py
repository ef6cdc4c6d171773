"""SIGKILL the real ``tradeloop serve --http`` at every point of a live stop with close_positions
and of close_position, for 1, 2 and 3 open positions, then stop again (issue 11).

The fake Binance USDT-M venue runs in this test process (HTTP on 127.0.0.1); the server is the
real CLI entry point in forked processes (``serve_worker``) over one SQLite file, reaching the
venue through ``TRADELOOP_EXCHANGE_URL_BINANCE``, driven by MCP tool calls. Kill points, for each
order k of the close: before it is sent (``after_intent_commit``), after the venue accepted it
(``after_exchange_accept``), while the venue holds its answer, after its fill is committed to the
intent log (``after_fill_commit``); and, for a stop, after the close cycle is committed
(``before_stopped``). After each kill the next server stops (or closes) again; then: the venue is
flat, every venue order is booked exactly once on its own symbol and side, ledger = venue, cash =
wallet, no client order id sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.execution.fake_exchange.binance import BinanceDialect
from tests.execution.fake_exchange.engine import FakeAccount, FakeMarket, Faults
from tests.execution.fake_exchange.transport import FakeVenueServer
from tests.execution.harness import SENTINEL_KEY, SENTINEL_SECRET, fake_account
from tests.live.helpers import LIVE_ENV
from tradeloop.trading.models import MarketType

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
D = Decimal
SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
MARKET_ID = {s: s.replace("-", "") for s in SYMBOLS}
HOLD = "venue_holds_answer"
RANDOM = "random_moment"
PER_ORDER = ("after_intent_commit", "after_exchange_accept", HOLD, "after_fill_commit")
LINE_TIMEOUT_S = 30.0
MIN_KILLS = 30
MIN_CLOSE_KILLS = 15
SEED = 20261203


@dataclass(frozen=True)
class Scenario:
    action: str  # "stop" or "close"
    positions: int
    point: str
    order: int = 1
    """Stop: which order of the close is interrupted (1-based); close_position: which symbol."""

    @property
    def nth(self) -> int:
        """The interrupted order's place among the call's orders (close_position sends one)."""
        return self.order if self.action == "stop" else 1


def scenarios(action: str) -> list[Scenario]:
    """Stop: every point at every order of 1, 2 and 3 positions, plus after the close cycle's
    commit and a random moment (30 kills). close_position (one order): every point for 1, 2
    and 3 positions, closing the last symbol, plus a random moment (15 kills)."""
    plan = []
    for n in (1, 2, 3):
        orders = range(1, n + 1) if action == "stop" else [n]
        plan += [Scenario(action, n, point, k) for point in PER_ORDER for k in orders]
        if action == "stop":
            plan.append(Scenario(action, n, "before_stopped"))
        plan.append(Scenario(action, n, RANDOM, n))
    return plan


class Workers:
    """Drives ``serve_worker``'s fork server: one server process at a time."""

    def __init__(self, proc: asyncio.subprocess.Process, env: dict[str, str], tmp: Path) -> None:
        self._proc, self._env, self._tmp = proc, env, tmp
        self.pid: int | None = None
        self.port = 0
        self.starts = 0

    @classmethod
    async def start(cls, env: dict[str, str], tmp: Path) -> Workers:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.live.serve_worker", cwd=REPO, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc, env, tmp)

    async def serve(self, crash: dict[str, str]) -> str:
        """Start a server (crash points per ``crash``), wait until it answers; its MCP URL."""
        assert self._proc.stdin is not None
        self.port = _free_port()
        self.starts += 1
        command = {"env": {**self._env, **crash}, "port": self.port,
                   "log": str(self._tmp / "server.log")}  # fmt: skip
        self._proc.stdin.write((json.dumps(command) + "\n").encode())
        await self._proc.stdin.drain()
        event = await self._line()
        assert event["event"] == "forked", event
        self.pid = event["pid"]
        deadline = time.monotonic() + LINE_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return f"http://127.0.0.1:{self.port}/mcp"
            await asyncio.sleep(0.02)
        raise AssertionError("the server did not listen")

    async def exited(self) -> dict[str, Any]:
        event = await self._line()
        assert event["event"] == "exit", event
        self.pid = None
        return event

    def kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def close(self) -> None:
        self.kill()
        if self.pid is not None:
            await self.exited()
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        await asyncio.wait_for(self._proc.wait(), LINE_TIMEOUT_S)

    async def _line(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        raw = await asyncio.wait_for(self._proc.stdout.readline(), LINE_TIMEOUT_S)
        if not raw:
            raise AssertionError("the fork server died")
        return json.loads(raw)


@contextlib.asynccontextmanager
async def mcp(url: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            yield client


async def call(client: Client, tool: str, **args: Any) -> tuple[bool, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error:
        return False, result.content[0].text
    return True, result.structured_content


async def confirmed(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    """A live create or start: the preview's token, passed back."""
    ok, text = await call(client, tool, **args)
    assert not ok and "confirmation_token='" in text, text
    token = text.split("confirmation_token='")[1].split("'")[0]
    ok, answer = await call(client, tool, **args, confirmation_token=token)
    assert ok, answer
    return answer


async def open_positions(client: Client, n: int) -> str:
    created = await confirmed(
        client, "create_strategy", symbols=SYMBOLS[:n], initial_capital=1_000_000,
        trading_mode="live", exchange="binance", market_type="perpetual", max_leverage=3,
        testnet=True, credentials_name="main",
        rules={"rsi_buy_below": 99, "rsi_sell_above": 100, "position_size_pct": 0.05},
    )  # fmt: skip
    sid = created["strategy_id"]
    await confirmed(client, "start_strategy", strategy_id=sid)
    ok, cycle = await call(client, "run_cycle_now", strategy_id=sid)
    assert ok and cycle["status"] == "ok", cycle
    assert len(cycle["fills"]) == n, cycle
    assert all(f["client_order_id"] and f["exchange_order_id"] for f in cycle["fills"]), cycle
    return sid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venue_account() -> FakeAccount:
    account = fake_account("binance", MarketType.PERPETUAL, cash=D("1000000"))
    account.markets["SOLUSDT"] = FakeMarket(
        "SOLUSDT", "SOL", "USDT", D("150"), amount_step=D("0.01"), min_amount=D("0.01")
    )
    return account


async def test_sigkills_during_live_stops_and_closes_leave_the_venue_flat_and_booked_once(
    tmp_path: Path,
) -> None:
    account = venue_account()
    started = time.monotonic()
    async with FakeVenueServer(BinanceDialect(account), hold_s=5.0) as venue:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")},
            **LIVE_ENV,
            "PYTHONPATH": str(REPO),
            "TRADELOOP_DB": str(tmp_path / "live.db"),
            "TRADELOOP_LIVE_TRADING": "1",
            "TRADELOOP_LIVE_BACKOFF_S": "0.005",
            "TRADELOOP_EXCHANGE_URL_BINANCE": f"http://127.0.0.1:{venue.port}",
            "TRADELOOP_CRASH_ARMED_FILE": str(tmp_path / "armed"),
        }
        workers = await Workers.start(env, tmp_path)
        try:
            plan = scenarios("stop") + scenarios("close")
            kills = await run_scenarios(workers, venue, account, plan, tmp_path)
        finally:
            await workers.close()
    elapsed = time.monotonic() - started
    logger.warning(
        "stop/close crash test: %s SIGKILLs, %d server starts, %d venue orders, %.1f s",
        dict(kills), workers.starts, len(account.orders), elapsed,
    )  # fmt: skip
    assert kills["stop"] >= MIN_KILLS and kills["close"] >= MIN_CLOSE_KILLS, kills
    assert account.duplicates() == {}
    log = (tmp_path / "server.log").read_text()
    assert SENTINEL_KEY not in log and SENTINEL_SECRET not in log


async def run_scenarios(
    workers: Workers, venue: FakeVenueServer, account: FakeAccount, plan: list[Scenario], tmp: Path
) -> Counter[str]:
    """One server process per scenario: it recovers the previous scenario (stop or close again,
    then check), opens the next one's positions, and is killed during its stop or close. Crash
    points are armed only during that call (``TRADELOOP_CRASH_ARMED_FILE``)."""
    armed, kills, rng = tmp / "armed", Counter[str](), random.Random(SEED)
    pending: tuple[Scenario, str] | None = None
    for s in [*plan, None]:
        crash = {}
        if s is not None and s.point not in (HOLD, RANDOM):
            crash = {"TRADELOOP_CRASH_AT": s.point, "TRADELOOP_CRASH_AFTER": str(s.nth)}
        url = await workers.serve(crash)
        async with mcp(url) as client:
            if pending is not None:
                await recover(client, account, *pending, tmp)
            sid = await open_positions(client, s.positions) if s is not None else ""
        if s is None:
            break
        held = {sym: account.base_position(MARKET_ID[sym]) for sym in SYMBOLS[: s.positions]}
        assert all(q > 0 for q in held.values()), held
        target = SYMBOLS[s.order - 1]
        if s.point == HOLD:
            account.faults = Faults(skip_creates=s.nth - 1, accept_then_timeout=1)
        armed.touch()
        interrupted = asyncio.create_task(_interrupted_call(url, s, sid, target))
        if s.point == HOLD:
            await _until(lambda: venue.holding > 0)
            workers.kill()
        elif s.point == RANDOM:
            await asyncio.sleep(rng.uniform(0.05, 0.8))
            workers.kill()
        exit_event = await workers.exited()
        armed.unlink()
        interrupted.cancel()
        with contextlib.suppress(BaseException):
            await interrupted
        account.faults = Faults()
        assert exit_event["sigkill"], (s, exit_event)
        kills[s.action] += 1
        pending = (s, sid)
        logger.info("%s killed", s)
    workers.kill()
    await workers.exited()
    return kills


async def recover(client: Client, account: FakeAccount, s: Scenario, sid: str, tmp: Path) -> None:
    """After the kill: close (close_position) and stop again; the venue is flat and agrees."""
    target = SYMBOLS[s.order - 1]
    if s.action == "close":
        ok, answer = await call(client, "close_position", strategy_id=sid, symbol=target)
        assert ok or "no open" in answer, (s, answer)
        assert account.base_position(MARKET_ID[target]) == 0, s
        ledger = await _ledger(client, sid)
        for sym in SYMBOLS[: s.positions]:
            assert ledger.get(sym, D(0)) == account.base_position(MARKET_ID[sym]), (s, sym)
    ok, info = await call(client, "get_strategy", strategy_id=sid)
    if info["status"] != "stopped":  # a random kill may come after the stop finished
        ok, stopped = await call(client, "stop_strategy", strategy_id=sid, close_positions=True)
        assert ok and stopped["status"] == "stopped", (s, stopped)
        assert all(line["done"] for line in stopped["closing"]), (s, stopped)
    ok, portfolio = await call(client, "get_portfolio", strategy_id=sid)
    assert portfolio["positions"] == {}, (s, portfolio)
    assert all(account.base_position(m) == 0 for m in MARKET_ID.values()), (s, account.positions)
    assert account.duplicates() == {}, s
    _check_booked_once(tmp / "live.db", account, sid, s)
    wallet = account.balances["USDT"]
    assert abs(D(repr(portfolio["cash"])) - wallet) < D("0.000001"), (s, portfolio["cash"], wallet)


async def _interrupted_call(url: str, s: Scenario, sid: str, target: str) -> None:
    async with mcp(url) as client:
        if s.action == "stop":
            await call(client, "stop_strategy", strategy_id=sid, close_positions=True)
        else:
            await call(client, "close_position", strategy_id=sid, symbol=target)
    if s.point != RANDOM:
        raise AssertionError(f"{s}: the call finished; no crash point was hit")


async def _until(predicate: Any, timeout: float = LINE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _ledger(client: Client, sid: str) -> dict[str, Decimal]:
    ok, portfolio = await call(client, "get_portfolio", strategy_id=sid)
    assert ok, portfolio
    return {sym: D(repr(p["quantity"])) for sym, p in portfolio["positions"].items()}


def _check_booked_once(db: Path, account: FakeAccount, sid: str, s: Scenario) -> None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        intents = {
            row["client_order_id"]: row
            for row in conn.execute("SELECT * FROM live_intents WHERE strategy_id = ?", (sid,))
        }
        booked = [
            (row["symbol"], row["side"], json.loads(row["body_json"]))
            for row in conn.execute(
                "SELECT symbol, side, body_json FROM tx_results WHERE strategy_id = ? "
                "AND filled_qty > 0", (sid,),
            )
        ]  # fmt: skip
    finally:
        conn.close()
    mine = [o for o in account.orders if o.client_id in intents]
    counts = Counter(body["client_order_id"] for _, _, body in booked)
    for order in mine:
        intent = intents[order.client_id]
        assert intent["status"] in ("filled", "partial") and intent["applied"] == 1, (s, order)
        assert (MARKET_ID[intent["symbol"]], intent["side"].lower()) == (
            order.symbol_id,
            order.side,
        ), (s, order)
        assert counts[order.client_id] == 1, (s, order.client_id, counts)
    for symbol, side, body in booked:
        order = next(o for o in mine if o.client_id == body["client_order_id"])
        assert (MARKET_ID[symbol], side.lower()) == (order.symbol_id, order.side), (s, body)
        assert D(repr(body["filled_qty"])) == order.filled, (s, body)
    assert len(booked) == len(mine), (s, len(booked), len(mine))
