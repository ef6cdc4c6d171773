"""Builders and hand-written fakes shared by the store, scheduler and service tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.fakes import ScriptedComposer, StaticPipeline
from tradeloop.store.codec import ledger_from_json, without_marks
from tradeloop.store.payloads import unpack
from tradeloop.trading.base_agent import BaseStrategyAgent
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    ExchangeConfig,
    MarketType,
    TradingConfig,
    TxResult,
    UserRequest,
)
from tradeloop.trading.portfolio.in_memory import fill_from_tx
from tradeloop.trading.portfolio.ledger import Ledger, apply_fill
from tradeloop.trading.utils import to_decimal


def replay_request(**trading: object) -> UserRequest:
    """Spot BTC + ETH on the real hourly candles, with RSI thresholds that trade often."""
    config = {
        "initial_capital": 10_000,
        "symbols": ["BTC-USDT", "ETH-USDT"],
        "feature_intervals": ["1h", "4h"],
        "decide_interval": 3600,
        "candle_lookback": 60,
        "rules": {"rsi_buy_below": 45, "rsi_sell_above": 55, "position_size_pct": 0.3},
    }
    config.update(trading)
    return UserRequest(trading_config=TradingConfig.model_validate(config))


def perpetual_request(**trading: object) -> UserRequest:
    """A leveraged Bybit perpetual on the real 5-minute candles, shorts allowed."""
    config = {
        "initial_capital": 5_000,
        "symbols": ["BTC-USDT", "SOL-USDT"],
        "feature_intervals": ["5m", "1h"],
        "decide_interval": 900,
        "candle_lookback": 60,
        "max_leverage": 3,
        "rules": {"rsi_buy_below": 42, "rsi_sell_above": 58, "allow_short": True},
    }
    config.update(trading)
    return UserRequest(
        exchange_config=ExchangeConfig(exchange_id="bybit", market_type=MarketType.PERPETUAL),
        trading_config=TradingConfig.model_validate(config),
    )


def live_request(**trading: object) -> UserRequest:
    config = {"initial_capital": 1_000, "symbols": ["BTC-USDT"], "decide_interval": 1}
    config.update(trading)
    return UserRequest(trading_config=TradingConfig.model_validate(config))


class ScriptedAgent(BaseStrategyAgent):
    """Live-data strategies without a network: scripted prices, and a composer per strategy."""

    def __init__(
        self,
        prices: list[dict[str, float]],
        composer: Callable[[], BaseComposer],
    ) -> None:
        self.prices = prices
        self.make_composer = composer
        self.composers: list[BaseComposer] = []

    async def _build_features_pipeline(self, request: UserRequest) -> BaseFeaturesPipeline:
        return StaticPipeline(self.prices)

    async def _create_decision_composer(self, request: UserRequest) -> BaseComposer:
        composer = self.make_composer()
        self.composers.append(composer)
        return composer


class FailingComposer(BaseComposer):
    """Raises the scripted exceptions in turn (None: decide nothing), then decides nothing."""

    def __init__(self, script: list[BaseException | None]) -> None:
        self.script = list(script)
        self.calls = 0

    async def compose(self, context: ComposeContext) -> ComposeResult:
        self.calls += 1
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        return ComposeResult(rationale="nothing to do")


def scripted(script) -> Callable[[], BaseComposer]:  # type: ignore[no-untyped-def]
    return lambda: ScriptedComposer(script)


# ---------------------------------------------------------------------- reading a database file


def connect_readonly(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def ledger_mismatches(conn: sqlite3.Connection, strategy_id: str, request: UserRequest) -> int:
    """Cycles whose stored ledger differs from the replay of the fills stored up to them."""
    ex, cfg = request.exchange_config, request.trading_config
    ledger = Ledger.open_account(ex.market_type, to_decimal(cfg.initial_capital))
    fills: dict[int, list[tuple[int, TxResult]]] = {}
    for row in conn.execute(
        "SELECT t.cycle_id, c.ts, t.body_json FROM tx_results t JOIN cycles c ON c.id = t.cycle_id"
        " WHERE t.strategy_id = ? AND t.status IN ('FILLED', 'PARTIAL') AND t.filled_qty > 0"
        " ORDER BY t.id",
        (strategy_id,),
    ):
        fills.setdefault(row[0], []).append((row[1], TxResult.model_validate_json(row[2])))
    mismatches = 0
    for cycle_id, stored in conn.execute(
        "SELECT id, ledger FROM cycles WHERE strategy_id = ? ORDER BY id", (strategy_id,)
    ):
        for ts, tx in fills.get(cycle_id, []):
            ledger, _ = apply_fill(ledger, fill_from_tx(tx, ts))
        if without_marks(ledger) != without_marks(ledger_from_json(unpacked_text(stored))):
            mismatches += 1
    return mismatches


def half_written_cycles(conn: sqlite3.Connection) -> int:
    """Cycles whose child rows do not match the counts stored with them."""
    return conn.execute(
        """SELECT COUNT(*) FROM cycles c WHERE
        n_proposed != (SELECT COUNT(*) FROM instructions i WHERE i.cycle_id = c.id AND stage = 'proposed')
        OR n_instructions != (SELECT COUNT(*) FROM instructions i WHERE i.cycle_id = c.id AND stage = 'guarded')
        OR n_notes != (SELECT COUNT(*) FROM guard_notes g WHERE g.cycle_id = c.id)
        OR n_tx != (SELECT COUNT(*) FROM tx_results t WHERE t.cycle_id = c.id)
        OR n_trades != (SELECT COUNT(*) FROM trades t WHERE t.cycle_id = c.id)"""
    ).fetchone()[0]


def duplicate_slots(conn: sqlite3.Connection) -> int:
    return conn.execute(
        "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM cycles"
        " WHERE slot_ts IS NOT NULL GROUP BY strategy_id, slot_ts)"
    ).fetchone()[0]


def slot_gaps(conn: sqlite3.Connection, strategy_id: str, step_ms: int) -> int:
    """Missing or repeated slots between a replay's first and last slot."""
    slots = [
        row[0]
        for row in conn.execute(
            "SELECT slot_ts FROM cycles WHERE strategy_id = ? AND slot_ts IS NOT NULL"
            " ORDER BY slot_ts",
            (strategy_id,),
        )
    ]
    if not slots:
        return 0
    expected = set(range(slots[0], slots[-1] + step_ms, step_ms))
    return len(expected ^ set(slots)) + len(slots) - len(set(slots))


def unpacked_text(value: bytes | str) -> str:
    """A packed cycle column (or JSON text from before the migration) as JSON text."""
    text = unpack(value)
    return text if isinstance(text, str) else text.decode()
