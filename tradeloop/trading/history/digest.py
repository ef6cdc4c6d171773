"""The trade digest: per-instrument round-trip stats plus portfolio Sharpe and drawdown.

The state is a small frozen aggregate updated once per cycle (``fold_cycle``), so a digest is O(1)
per cycle and can be rebuilt from stored cycles by folding them again in order.

Sharpe: mean / stdev of per-cycle simple equity returns over the last ``window`` cycles
(``TradingConfig.sharpe_window``, default 500), annualized by sqrt(seconds per year / decide_interval);
None until there are two returns with non-zero spread. Max drawdown: largest peak-to-trough fall of
equity in percent over the whole run.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

from tradeloop.trading.constants import SECONDS_PER_YEAR
from tradeloop.trading.history.interfaces import BaseDigestBuilder
from tradeloop.trading.models import CycleResult, TradeDigest, TradeDigestEntry, TradeHistoryEntry


@dataclass(frozen=True, slots=True)
class InstrumentStats:
    trade_count: int = 0
    wins: int = 0
    realized_pnl: float = 0.0
    holding_ms_total: int = 0
    last_trade_ts: int | None = None

    def fold(self, trade: TradeHistoryEntry) -> InstrumentStats:
        ts = trade.exit_ts if trade.exit_ts is not None else trade.entry_ts
        last = max(filter(None, (self.last_trade_ts, ts)), default=None)
        if trade.exit_price is None:
            return replace(self, last_trade_ts=last)
        pnl = trade.realized_pnl or 0.0
        return InstrumentStats(
            trade_count=self.trade_count + 1,
            wins=self.wins + (1 if pnl - trade.fee_cost > 0 else 0),
            realized_pnl=self.realized_pnl + pnl,
            holding_ms_total=self.holding_ms_total + (trade.holding_ms or 0),
            last_trade_ts=last,
        )

    def entry(self) -> TradeDigestEntry:
        n = self.trade_count
        return TradeDigestEntry(
            trade_count=n,
            realized_pnl=self.realized_pnl,
            win_rate=self.wins / n if n else None,
            avg_holding_ms=self.holding_ms_total // n if n else None,
            last_trade_ts=self.last_trade_ts,
        )


@dataclass(frozen=True)
class DigestState:
    interval_s: int
    window: int
    initial_capital: float
    by_instrument: dict[str, InstrumentStats] = field(default_factory=dict)
    equity: deque[float] = field(default_factory=deque)
    peak: float | None = None
    max_drawdown_pct: float = 0.0
    last_equity: float | None = None
    fees_paid: float = 0.0
    realized_pnl: float = 0.0
    llm_cost_usd: float = 0.0
    ts: int = 0


def fold_cycle(state: DigestState, result: CycleResult) -> DigestState:
    """The digest state after one more cycle. Pure: the input state is not modified."""
    stats = dict(state.by_instrument)
    for trade in result.trades:
        symbol = trade.instrument.symbol
        stats[symbol] = stats.get(symbol, InstrumentStats()).fold(trade)
    summary = result.strategy_summary
    equity = deque(state.equity, maxlen=state.window + 1)
    equity.append(summary.equity)
    peak = summary.equity if state.peak is None else max(state.peak, summary.equity)
    drawdown = (peak - summary.equity) / peak * 100 if peak > 0 else 0.0
    cost = result.usage.cost_usd if result.usage else 0.0
    return replace(
        state,
        by_instrument=stats,
        equity=equity,
        peak=peak,
        max_drawdown_pct=max(state.max_drawdown_pct, drawdown),
        last_equity=summary.equity,
        fees_paid=summary.fees_paid,
        realized_pnl=summary.realized_pnl,
        llm_cost_usd=state.llm_cost_usd + cost,
        ts=result.ts,
    )


def sharpe_ratio(equity: list[float], interval_s: int) -> float | None:
    returns = [b / a - 1 for a, b in zip(equity, equity[1:], strict=False) if a > 0]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(SECONDS_PER_YEAR / interval_s)


def to_digest(state: DigestState, ts: int | None = None) -> TradeDigest:
    last = state.last_equity
    total_return = (last / state.initial_capital - 1) * 100 if last is not None else None
    return TradeDigest(
        ts=ts if ts is not None else state.ts,
        by_instrument={s: st.entry() for s, st in sorted(state.by_instrument.items())},
        sharpe_ratio=sharpe_ratio(list(state.equity), state.interval_s),
        max_drawdown_pct=state.max_drawdown_pct,
        total_return_pct=total_return,
        fees_paid=state.fees_paid,
        realized_pnl=state.realized_pnl,
        equity=last,
        llm_cost_usd=state.llm_cost_usd,
        sharpe_window=state.window,
    )


class RollingDigestBuilder(BaseDigestBuilder):
    def __init__(self, *, interval_s: int, window: int, initial_capital: float) -> None:
        self.state = DigestState(
            interval_s=interval_s, window=window, initial_capital=initial_capital
        )

    async def update(self, result: CycleResult) -> TradeDigest:
        self.state = fold_cycle(self.state, result)
        return to_digest(self.state)

    async def build(self, ts: int | None = None) -> TradeDigest:
        return to_digest(self.state, ts)
