"""Small builders shared by the backtest tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradeloop.backtest.stats import EquityPoint
from tradeloop.trading.models import (
    InstrumentRef,
    TradeHistoryEntry,
    TradeSide,
    TradeType,
    UserRequest,
)

DATA = Path(__file__).resolve().parent / "data"
"""720 real Binance 1h candles of BTC and ETH (2025-03-15 .. 2025-04-14), for offline tests."""
BTC = DATA / "binance_spot_BTCUSDT_1h.csv"
ETH = DATA / "binance_spot_ETHUSDT_1h.csv"
HOUR = 3_600_000


def rsi_request(symbols: tuple[str, ...] = ("BTC-USDT",), **trading: Any) -> UserRequest:
    """The bench's rule strategy: RSI below 35 buys, above 65 closes, long only, 10 bps fee."""
    rules = {"rsi_buy_below": 35, "rsi_sell_above": 65, "position_size_pct": 1 / len(symbols)}
    return UserRequest.model_validate(
        {
            "exchange_config": {"fee_bps": 10, "max_slippage_bps": 0},
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": list(symbols),
                "decide_interval": 3600,
                "feature_intervals": ["1h"],
                "rules": rules,
            }
            | trading,
        }
    )


def curve(*equities: float, step_ms: int = HOUR, exposure: float = 0.0) -> list[EquityPoint]:
    return [
        EquityPoint(ts=i * step_ms, equity=e, gross_exposure=exposure, fees_paid=0.0)
        for i, e in enumerate(equities)
    ]


def round_trip(
    pnl: float, fee: float = 0.0, *, entry: float = 100.0, qty: float = 1.0
) -> TradeHistoryEntry:
    return TradeHistoryEntry(
        trade_id=f"t{pnl}",
        compose_id="c",
        instruction_id="c:0",
        instrument=InstrumentRef(symbol="BTC-USDT"),
        side=TradeSide.SELL,
        type=TradeType.LONG,
        quantity=qty,
        entry_price=entry,
        exit_price=entry + pnl / qty,
        entry_ts=0,
        exit_ts=HOUR,
        realized_pnl=pnl,
        holding_ms=HOUR,
        fee_cost=fee,
    )


def opened(ts: int = 0) -> TradeHistoryEntry:
    return TradeHistoryEntry(
        trade_id="o",
        compose_id="c",
        instruction_id="c:0",
        instrument=InstrumentRef(symbol="BTC-USDT"),
        side=TradeSide.BUY,
        type=TradeType.LONG,
        quantity=1.0,
        entry_price=100.0,
        entry_ts=ts,
    )
