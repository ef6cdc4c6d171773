"""What ``StrategyService`` takes and returns: typed, frozen pydantic models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tradeloop.store.cycles import CycleRecord
from tradeloop.trading.models import (
    CycleResult,
    StrategyStatus,
    TradeHistoryEntry,
    TradingMode,
    UserRequest,
)

__all__ = [
    "CyclePage",
    "CycleRecord",
    "ReplaySpec",
    "ServiceEvent",
    "StrategyInfo",
    "TradePage",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplaySpec(_Frozen):
    """Replay historical candles on simulated time instead of live market data."""

    data_dir: str = Field(min_length=1)
    """Folder of ``[venue_]SYMBOL_INTERVAL.csv`` files (``timestamp,open,high,low,close,volume``)."""
    venue: str | None = None
    """File prefix to use, e.g. ``binance_spot``. None: ``{exchange_id}_{spot|linear}`` when such
    files exist, else every file."""
    start_ms: int | None = None
    """First slot; None: as soon as ``candle_lookback`` candles of every feature interval closed."""
    end_ms: int | None = None
    """Last slot; None: the end of the data. After it the strategy stops with "replay finished"."""
    speed: float | None = Field(default=None, gt=0)
    """None: cycles back to back, as fast as they compute. N: simulated time runs N x wall time."""
    skip_bad_rows: bool = False
    """Leave out bad candle rows with a counted warning; by default a bad row refuses the data."""


class StrategyInfo(_Frozen):
    strategy_id: str
    owner: str
    """The principal it belongs to (``services.principals``)."""
    name: str
    agent_kind: str
    status: StrategyStatus
    reason: str | None
    trading_mode: TradingMode
    data: Literal["live", "replay"]
    replay: ReplaySpec | None
    symbols: list[str]
    decide_interval: int
    request: UserRequest
    """As stored: credentials are never part of it."""
    created_at: int
    updated_at: int
    cycles: int
    consecutive_failures: int
    last_slot_ts: int | None
    """Latest slot with a cycle (simulated time for replays): where a restart continues."""
    last_cycle_ts: int | None
    next_run_ms: int | None
    """Wall-clock time of the next scheduled run, when the strategy is scheduled."""
    equity: float
    initial_capital: float
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float
    total_return_pct: float
    open_positions: int
    owner_replica: str | None = None
    """PostgreSQL: the replica running the strategy (its lease holder); None when none holds it,
    and on SQLite, where the one process serving the file runs every strategy."""
    lease_expires_ms: int | None = None
    """When that lease runs out unless renewed (the database's clock); in the past: that replica
    stopped renewing, and another takes the strategy over within a heartbeat."""


class CyclePage(_Frozen):
    """Oldest first unless asked for newest first; pass ``next_cursor`` back for the next page
    (None: this was the last one)."""

    items: list[CycleRecord]
    next_cursor: str | None


class TradePage(_Frozen):
    """Oldest first unless asked for newest first; pass ``next_cursor`` back for the next page
    (None: this was the last one)."""

    items: list[TradeHistoryEntry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """Published after every stored cycle (``cycle`` set) and every status change."""

    strategy_id: str
    name: str
    status: StrategyStatus
    reason: str | None = None
    cycle: CycleResult | None = None
