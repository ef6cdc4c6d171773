"""Paper execution: fills at the snapshot price moved against the trader by the slippage, minus fees."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.constants import DEFAULT_FEE_BPS, DEFAULT_MAX_SLIPPAGE_BPS
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.models import FeatureVector, TradeInstruction, TradeSide, TxResult, TxStatus
from tradeloop.trading.portfolio.views import missing_price_reason, snapshot_prices
from tradeloop.trading.utils import to_decimal

BPS = Decimal(10_000)


class PaperExecutionGateway(BaseExecutionGateway):
    def __init__(
        self,
        fee_bps: float = DEFAULT_FEE_BPS,
        max_slippage_bps: float = DEFAULT_MAX_SLIPPAGE_BPS,
        clock: Clock | None = None,
    ) -> None:
        self._fee = to_decimal(fee_bps) / BPS
        self._slippage_bps = max_slippage_bps
        self._clock = clock or SystemClock()

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        if not instructions:
            return []
        prices = snapshot_prices(market_features or [])
        ts = self._clock.now_ms()
        return [self._fill(inst, prices.get(inst.instrument.symbol), ts) for inst in instructions]

    def _fill(self, inst: TradeInstruction, price: Decimal | None, ts: int) -> TxResult:
        if price is None:
            return _rejected(inst, missing_price_reason(inst.instrument.symbol), ts)
        trigger = (inst.meta or {}).get("trigger_price")
        if trigger is not None:
            price = to_decimal(float(trigger))  # a stop or target fills at its level
        bps = inst.max_slippage_bps if inst.max_slippage_bps is not None else self._slippage_bps
        slip = to_decimal(bps) / BPS
        exec_price = price * (1 + slip) if inst.side is TradeSide.BUY else price * (1 - slip)
        qty = to_decimal(inst.quantity)
        fee = qty * exec_price * self._fee
        return TxResult(
            instruction_id=inst.instruction_id,
            instrument=inst.instrument,
            side=inst.side,
            status=TxStatus.FILLED,
            requested_qty=inst.quantity,
            filled_qty=inst.quantity,
            avg_exec_price=float(exec_price),
            fee_cost=float(fee),
            leverage=inst.leverage,
            ts=ts,
            stop_loss=inst.stop_loss,
            take_profit=inst.take_profit,
        )


def _rejected(inst: TradeInstruction, reason: str, ts: int) -> TxResult:
    return TxResult(
        instruction_id=inst.instruction_id,
        instrument=inst.instrument,
        side=inst.side,
        status=TxStatus.REJECTED,
        requested_qty=inst.quantity,
        filled_qty=0.0,
        leverage=inst.leverage,
        reason=reason,
        ts=ts,
    )
