"""MCP latency over stdio, as a desktop host sees it: ``tradeloop serve`` as a subprocess.

1. Seeds a database with one replay strategy holding >= 10,000 stored trades (four symbols, an
   agent that opens or closes every position each cycle; reused on later runs).
2. Time from process start to the ``initialize`` answer: a fresh ``tradeloop serve`` per run,
   measured from just before the process is spawned to the answer line on its stdout; beside
   it, the same for a bare one-tool ``MCPServer`` (the SDK's own floor on this machine).
3. p50 / p99 of ``get_portfolio``, ``get_digest`` and ``list_trades`` (50 per page: the first
   page, a page 5,000 trades deep, newest first) through one stdio session with the initialize
   handshake, timed from writing the request line to reading its answer.

    .venv/bin/python bench/mcp_latency.py [--calls 200] [--starts 10] [--trades 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "BNB-USDT"]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


def serve_command(db: Path) -> list[str]:
    return [sys.executable, "-m", "tradeloop", "serve", "--replay", str(DATA), "--db", str(db)]


def serve_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}


# --------------------------------------------------------------------------- seeding


async def seed(db: Path, trades: int) -> tuple[str, int]:
    """The strategy id and its trade count, running cycles until there are ``trades`` trades."""
    from tradeloop.services.strategies import StrategyService
    from tradeloop.settings import Settings
    from tradeloop.trading.models import UserRequest

    settings = Settings(db_path=db, replay_dir=DATA, shutdown_grace_s=0)
    async with StrategyService.open(settings, agents={"default": _flip_agent()}) as service:
        existing = await service.find("bench")
        if existing is None:
            request = UserRequest.model_validate(
                {
                    "trading_config": {
                        "initial_capital": 100_000,
                        "symbols": SYMBOLS,
                        "decide_interval": 3600,
                        "feature_intervals": ["1h"],
                        "max_positions": len(SYMBOLS),
                    }
                }
            )
            existing = await service.create(request, name="bench")
        sid = existing.strategy_id
        count = await _count_trades(service, sid)
        started = time.perf_counter()
        while count < trades:
            result = await service.run_cycle_now(sid)
            count += len(result.trades)
        if time.perf_counter() - started > 1:
            print(
                f"seeded {count} trades in {time.perf_counter() - started:.1f} s", file=sys.stderr
            )
        return sid, count


async def _count_trades(service: Any, sid: str) -> int:
    total, cursor = 0, None
    while True:
        page = await service.list_trades(sid, cursor=cursor, limit=500)
        total += len(page.items)
        if page.next_cursor is None:
            return total
        cursor = page.next_cursor


def _flip_agent() -> Any:
    from tradeloop.trading.base_agent import DefaultStrategyAgent
    from tradeloop.trading.decision.interfaces import BaseComposer
    from tradeloop.trading.models import ComposeResult, TradeAction, TradeInstruction, TradeSide

    class Flip(BaseComposer):
        async def compose(self, context: Any) -> ComposeResult:
            snapshot = [
                f
                for f in context.features
                if (f.meta or {}).get("group_by_key") == "market_snapshot"
            ]
            equity = context.portfolio.total_value or context.portfolio.account_balance
            instructions = []
            for i, vector in enumerate(snapshot):
                held = context.portfolio.positions.get(vector.instrument.symbol)
                long = held is not None and held.quantity > 0
                instructions.append(
                    TradeInstruction(
                        instruction_id=f"{context.compose_id}:{i}",
                        compose_id=context.compose_id,
                        instrument=vector.instrument,
                        side=TradeSide.SELL if long else TradeSide.BUY,
                        quantity=held.quantity if long else equity * 0.2 / vector.values["price"],
                        action=TradeAction.CLOSE_LONG if long else TradeAction.OPEN_LONG,
                    )
                )
            return ComposeResult(instructions=instructions, rationale="bench flip")

    class FlipAgent(DefaultStrategyAgent):
        async def _create_decision_composer(self, request: Any) -> BaseComposer:
            return Flip()

    return FlipAgent()


# --------------------------------------------------------------------------- measurements


BARE_SERVER = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")
@server.tool()
async def echo(text: str) -> str:
    return text
server.run()
"""


def time_to_initialize(command: list[str]) -> float:
    """Seconds from spawning ``command`` to its initialize answer on stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=serve_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    elapsed = time.perf_counter() - started
    process.stdin.close()
    process.wait(timeout=60)
    assert answer.get("id") == 1 and "result" in answer, answer
    return elapsed


class StdioSession:
    """A bare JSON-RPC client over the server's stdin/stdout, with the initialize handshake.

    Timings then hold the server, the pipe and JSON only: the Python SDK's client also validates
    each result against the tool's output schema with ``jsonschema``, which costs more than the
    server does for large results (about 40 ms for a 50-trade page) and is not what a host pays.
    """

    def __init__(self, db: Path) -> None:
        self._process = subprocess.Popen(
            serve_command(db),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=serve_env(),
        )
        self._next_id = 1
        self._request("initialize", INITIALIZE["params"])
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        result = self._request("tools/call", {"name": tool, "arguments": args})
        if result.get("isError"):
            raise RuntimeError(f"{tool} failed: {result['content'][0]['text']}")
        return result["structuredContent"]

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=60)

    def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id, self._next_id = self._next_id, self._next_id + 1
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        assert self._process.stdout is not None
        while True:
            message = json.loads(self._process.stdout.readline())
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write((json.dumps(message) + "\n").encode())
        self._process.stdin.flush()


def call_latencies(db: Path, sid: str, calls: int) -> dict[str, list[float]]:
    session = StdioSession(db)
    try:
        # Warm: query_features waits for the background pandas-ta warm-up, so it cannot overlap.
        session.call("query_features", {"symbols": ["BTC-USDT"]})
        page = {"next_cursor": None}
        for _ in range(10):
            args = {"strategy_id": sid, "limit": 500}
            page = session.call("list_trades", args | _cursor(page["next_cursor"]))
        cases: dict[str, tuple[str, dict[str, Any]]] = {
            "get_portfolio": ("get_portfolio", {"strategy_id": sid}),
            "get_digest": ("get_digest", {"strategy_id": sid}),
            "list_trades (first page)": ("list_trades", {"strategy_id": sid}),
            "list_trades (5,000 deep)": (
                "list_trades",
                {"strategy_id": sid} | _cursor(page["next_cursor"]),
            ),
            "list_trades (newest first)": (
                "list_trades",
                {"strategy_id": sid, "newest_first": True},
            ),
        }
        timings: dict[str, list[float]] = {name: [] for name in cases}
        for tool, args in cases.values():
            session.call(tool, args)
        for _ in range(calls):
            for name, (tool, args) in cases.items():
                started = time.perf_counter()
                session.call(tool, args)
                timings[name].append(time.perf_counter() - started)
        return timings
    finally:
        session.close()


def _cursor(cursor: str | None) -> dict[str, str]:
    return {} if cursor is None else {"cursor": cursor}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per tool")
    parser.add_argument("--starts", type=int, default=10, help="process starts to time")
    parser.add_argument("--trades", type=int, default=10_000, help="stored trades to seed")
    parser.add_argument("--db", type=Path, default=OUT / "mcp_latency.db")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"needs the replay candles in {DATA}", file=sys.stderr)
        return 2
    args.db.parent.mkdir(parents=True, exist_ok=True)

    sid, trades = asyncio.run(seed(args.db, args.trades))
    bare = args.db.parent / "bare_server.py"
    bare.write_text(BARE_SERVER)
    starts, baseline = [], []
    for _ in range(args.starts):  # interleaved, so both see the same machine load
        starts.append(time_to_initialize(serve_command(args.db)))
        baseline.append(time_to_initialize([sys.executable, str(bare)]))
    timings = call_latencies(args.db, sid, args.calls)

    print(f"tradeloop serve over stdio, {trades} stored trades, {args.calls} calls per tool")
    print(
        f"  process start -> initialize answer: p50 {statistics.median(starts) * 1000:.0f} ms, "
        f"min {min(starts) * 1000:.0f} ms, max {max(starts) * 1000:.0f} ms ({len(starts)} starts)"
    )
    print(
        f"  (a bare one-tool MCPServer on this machine: p50 {statistics.median(baseline) * 1000:.0f} ms, "
        f"min {min(baseline) * 1000:.0f} ms)"
    )
    for name, values in timings.items():
        print(
            f"  {name:28s} p50 {percentile(values, 0.5) * 1000:7.2f} ms   "
            f"p99 {percentile(values, 0.99) * 1000:7.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
