"""The live "server" of the crash test, and a fork server that starts it fast.

``python -m tests.live.crash_worker`` imports everything once, then reads one JSON command per line
on stdin: ``{"env": {...}}`` forks a worker with that environment and reports, as JSON lines on
stdout, ``{"event": "forked", "pid": ...}``, the worker's own events, then
``{"event": "exit", "pid": ..., "signal": ..., "code": ...}``. Forking after the imports makes a
restart cost milliseconds instead of seconds, so 30+ SIGKILLs fit in the time budget; the worker
is still its own process, killed by SIGKILL from outside or by a named crash point from inside.

The worker is what a live server does, nothing mocked but the venue's network address:
open the SQLite store, build the Binance USDT-M ccxt exchange through the production builder
(testnet), reconcile (settle every unresolved intent, compare positions), then run decision cycles
that open and close BTC-USDT through ``CCXTExecutionGateway``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.execution.fake_exchange.transport import loopback_session, use_session
from tradeloop.credentials import load_credentials
from tradeloop.services.live import intent_positions, reconcile
from tradeloop.store.db import Database
from tradeloop.store.intents import SqliteIntentStore
from tradeloop.trading.clock import SystemClock
from tradeloop.trading.data.exchanges import (
    ExchangeKey,
    build_exchange,
    get_exchange,
    register_exchange,
)
from tradeloop.trading.execution.ccxt_trading import CCXTExecutionGateway, LiveOrderConfig
from tradeloop.trading.models import (
    FeatureVector,
    InstrumentRef,
    MarketType,
    TradeAction,
    TradeInstruction,
    TradeSide,
)
from tradeloop.trading.venues import venue_profile

STRATEGY_ID = "s_crash"
SYMBOL = "BTC-USDT"
KEY = ExchangeKey("binance", MarketType.PERPETUAL, testnet=True, account="crashtest")
PRICE = [
    FeatureVector(
        ts=0,
        instrument=InstrumentRef(symbol=SYMBOL),
        values={"price": 50000.0},
        meta={"group_by_key": "market_snapshot"},
    )
]


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


async def serve() -> int:
    db = await Database.open(os.environ["CRASH_DB"])
    exchange = _exchange()
    session = loopback_session(int(os.environ["CRASH_PORT"]), Path(os.environ["CRASH_CAFILE"]))
    use_session(exchange, session)
    try:
        return await _trade(db, SqliteIntentStore(db))
    finally:
        await exchange.close()
        await session.close()
        await db.close()


def _exchange() -> Any:
    exchange = build_exchange(KEY, load_credentials("crashtest").ccxt_config())
    exchange.timeout = int(os.environ.get("CRASH_TIMEOUT_MS", "400"))
    exchange.rateLimit = 5  # ccxt's limiter stays in the path, refilled faster than Binance's 50 ms
    exchange.tokenBucket = None
    exchange.init_rest_rate_limiter()
    exchange.timeout_on_exit = 0
    register_exchange(KEY, exchange)
    return exchange


async def _trade(db: Database, intents: SqliteIntentStore) -> int:
    gateway = CCXTExecutionGateway(
        strategy_id=STRATEGY_ID,
        account="binance:perpetual:testnet:crashtest",
        venue=venue_profile("binance", MarketType.PERPETUAL),
        exchange=lambda: get_exchange(KEY),
        intents=intents,
        clock=SystemClock(),
        config=LiveOrderConfig(
            lookup_polls=6, fill_polls=4, read_attempts=3, backoff_s=0.02, max_backoff_s=0.2
        ),
    )
    report = await reconcile(
        gateway, symbols=[SYMBOL], stored_positions=lambda: intent_positions(intents, STRATEGY_ID)
    )
    emit(
        "ready",
        ok=report.ok,
        reason=report.pause_reason,
        settled=len(report.settled),
        stored=report.stored_positions,
        exchange=report.exchange_positions,
    )
    if not report.ok:
        return 3
    rng = random.Random(os.environ.get("CRASH_SEED", "0"))
    for _ in range(int(os.environ.get("CRASH_CYCLES", "6"))):
        own = (await intent_positions(intents, STRATEGY_ID)).get(SYMBOL, Decimal(0))
        [result] = await gateway.execute([_next_instruction(own, rng)], PRICE)
        emit("cycle", status=result.status.value, filled=result.filled_qty, reason=result.reason)
    return 0


def _next_instruction(own: Decimal, rng: random.Random) -> TradeInstruction:
    compose_id = f"c_{uuid.uuid4().hex}"
    if own > 0:
        side, action, qty = TradeSide.SELL, TradeAction.CLOSE_LONG, own
    elif own < 0:
        side, action, qty = TradeSide.BUY, TradeAction.CLOSE_SHORT, -own
    else:
        long = rng.random() < 0.5
        side = TradeSide.BUY if long else TradeSide.SELL
        action = TradeAction.OPEN_LONG if long else TradeAction.OPEN_SHORT
        qty = Decimal(rng.choice(["0.01", "0.02", "0.035"]))
    return TradeInstruction(
        instruction_id=f"{compose_id}:0",
        compose_id=compose_id,
        instrument=InstrumentRef(symbol=SYMBOL),
        side=side,
        quantity=float(qty),
        action=action,
        leverage=2.0,
    )


def _configure_logging(path: str | None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("ccxt").setLevel(logging.DEBUG)  # ccxt logs request headers at DEBUG


def _child(env: dict[str, str]) -> None:
    os.environ.update(env)
    _configure_logging(env.get("CRASH_LOG_FILE"))
    try:
        code = asyncio.run(serve())
    except BaseException:
        logging.getLogger(__name__).exception("worker failed")
        code = 70
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


def _fork_server() -> None:
    for line in sys.stdin:
        command = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(command["env"])
        emit("forked", pid=pid)
        _, status = os.waitpid(pid, 0)
        killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        emit("exit", pid=pid, signal=killed_by, code=code, sigkill=killed_by == signal.SIGKILL)


if __name__ == "__main__":
    _fork_server()
