"""Portfolio service that keeps the ledger in memory; persistence wraps it (see tradeloop.store)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from tradeloop.trading.models import (
    Constraints,
    FeatureVector,
    LevelAdjustment,
    MarketType,
    PortfolioView,
    TradeHistoryEntry,
    TradeInstruction,
    TxResult,
    TxStatus,
    UserRequest,
)
from tradeloop.trading.portfolio.fills import is_dust_fill
from tradeloop.trading.portfolio.interfaces import BasePortfolioService
from tradeloop.trading.portfolio.ledger import Fill, Ledger, apply_fill
from tradeloop.trading.portfolio.position_notes import with_adjustments, with_entries
from tradeloop.trading.portfolio.views import (
    constraints_for,
    effects_to_entries,
    ledger_to_view,
    snapshot_prices,
)
from tradeloop.trading.utils import to_decimal


class InMemoryPortfolioService(BasePortfolioService):
    def __init__(
        self,
        strategy_id: str,
        request: UserRequest,
        *,
        ledger: Ledger | None = None,
        ts: int = 0,
        constraints: Constraints | None = None,
    ) -> None:
        self.strategy_id = strategy_id
        self._request = request
        market_type = request.exchange_config.market_type
        capital = to_decimal(request.trading_config.initial_capital)
        self.ledger = ledger or Ledger.open_account(market_type, capital)
        self._ts = ts
        self._constraints = constraints or constraints_for(request)
        self._view: tuple[Ledger, int, PortfolioView] | None = None

    @property
    def market_type(self) -> MarketType:
        return self.ledger.market_type

    async def get_view(self) -> PortfolioView:
        cached = self._view
        if cached is not None and cached[0] is self.ledger:  # frozen: same ledger, same figures
            if cached[1] == self._ts:
                return cached[2]
            view = cached[2].model_copy(update={"ts": self._ts})
            self._view = (self.ledger, self._ts, view)
            return view
        view = ledger_to_view(
            self.ledger, self.strategy_id, self._ts, self._constraints, self._request
        )
        self._view = (self.ledger, self._ts, view)
        return view

    async def mark(self, market_features: list[FeatureVector], ts: int) -> PortfolioView:
        if self.ledger.positions:  # flat: nothing to mark
            self.ledger = self.ledger.with_marks(snapshot_prices(market_features))
        self._ts = ts
        return await self.get_view()

    async def apply_trades(
        self, trades: list[TxResult], market_features: list[FeatureVector] | None = None
    ) -> list[TradeHistoryEntry]:
        ledger = self.ledger
        entries: list[TradeHistoryEntry] = []
        for tx in trades:
            if tx.status not in (TxStatus.FILLED, TxStatus.PARTIAL) or tx.filled_qty <= 0:
                continue
            if is_dust_fill(tx):  # moves nothing (the cycle reports it via reject_dust_fills)
                continue
            fill = fill_from_tx(tx, self._ts)
            ledger, effect = apply_fill(ledger, fill)
            entries.extend(effects_to_entries(effect, tx, fill))
        if market_features and ledger.positions:
            ledger = ledger.with_marks(snapshot_prices(market_features))
        self.ledger = ledger
        return entries

    async def apply_position_notes(
        self,
        *,
        held_before: Mapping[str, float],
        instructions: Sequence[TradeInstruction],
        adjustments: Sequence[LevelAdjustment],
        rationale: str | None,
        decided_ts: int,
    ) -> list[LevelAdjustment]:
        if not self.ledger.positions:
            return []  # flat (most backtest cycles): nothing to note
        ledger = with_entries(
            self.ledger, held_before, instructions, rationale=rationale, decided_ts=decided_ts
        )
        self.ledger, applied = with_adjustments(ledger, adjustments)
        return applied

    def set_constraints(self, constraints: Constraints) -> None:
        """What the venue's markets allow (step, minimums), shown in every view from now on."""
        self._constraints = constraints
        self._view = None

    def restore(self, ledger: Ledger, ts: int) -> None:
        """Replace the state with one rebuilt from storage."""
        self.ledger = ledger
        self._ts = ts


def fill_from_tx(tx: TxResult, default_ts: int) -> Fill:
    if tx.avg_exec_price is None:
        raise ValueError(f"fill {tx.instruction_id} has no execution price")
    return Fill(
        symbol=tx.instrument.symbol,
        side=tx.side,
        quantity=to_decimal(tx.filled_qty),
        price=to_decimal(tx.avg_exec_price),
        fee=to_decimal(tx.fee_cost or 0.0),
        ts=tx.ts if tx.ts is not None else default_ts,
        leverage=to_decimal(tx.leverage) if tx.leverage else Decimal(1),
        stop_loss=_optional_decimal(tx.stop_loss),
        take_profit=_optional_decimal(tx.take_profit),
    )


def _optional_decimal(value: float | None) -> Decimal | None:
    return to_decimal(value) if value is not None else None
