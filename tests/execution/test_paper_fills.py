"""The paper gateway's fill price and fee against literals for each side.

Definitions: the fill price moves against the trader by the slippage (a buy pays price x (1 + s),
a sell receives price x (1 - s), s in basis points / 10 000); the fee is fee_bps / 10 000 of the
notional at the fill price, i.e. after slippage.
"""

from __future__ import annotations

import time

import pytest

from tests.fakes import instruction, snapshot
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.models import TradeSide, TxStatus

BUY, SELL = TradeSide.BUY, TradeSide.SELL


async def fill_one(inst, price: float = 100.0, **gateway):
    paper = PaperExecutionGateway(clock=SimulatedClock(1_234), **gateway)
    [result] = await paper.execute([inst], [snapshot(inst.instrument.symbol, price)])
    return result


@pytest.mark.parametrize(
    ("side", "price", "fee"),
    [(BUY, 100.05, 0.2001), (SELL, 99.95, 0.1999)],  # 2 x 100.05 x 0.001; 2 x 99.95 x 0.001
)
async def test_a_fill_pays_the_slippage_against_itself_and_the_fee_on_the_slipped_price(
    side, price, fee
) -> None:
    result = await fill_one(instruction("BTC-USDT", side, 2), fee_bps=10, max_slippage_bps=5)
    assert result.status is TxStatus.FILLED
    assert result.avg_exec_price == pytest.approx(price, rel=1e-12)
    assert result.fee_cost == pytest.approx(fee, rel=1e-12)
    assert (result.filled_qty, result.requested_qty, result.ts) == (2, 2, 1_234)


@pytest.mark.parametrize(("side", "price"), [(BUY, 50.1), (SELL, 49.9)])
async def test_an_instruction_s_own_slippage_overrides_the_gateway_s(side, price) -> None:
    inst = instruction("BTC-USDT", side, 1).model_copy(update={"max_slippage_bps": 20})
    result = await fill_one(inst, 50.0, fee_bps=0, max_slippage_bps=5)
    assert result.avg_exec_price == pytest.approx(price, rel=1e-12)
    assert result.fee_cost == 0


@pytest.mark.parametrize(
    ("side", "price", "fee"), [(BUY, 90.09, 0.4504500), (SELL, 89.91, 0.4495500)]
)
async def test_a_stop_fills_at_its_trigger_level_with_slippage(side, price, fee) -> None:
    # 10 bps slippage on 90; fee 5 bps of 10 x the slipped price
    inst = instruction("BTC-USDT", side, 10).model_copy(update={"meta": {"trigger_price": 90.0}})
    result = await fill_one(inst, 85.0, fee_bps=5, max_slippage_bps=10)
    assert result.avg_exec_price == pytest.approx(price, rel=1e-12)
    assert result.fee_cost == pytest.approx(fee, rel=1e-12)


async def test_a_symbol_without_a_price_is_rejected_with_nothing_filled() -> None:
    paper = PaperExecutionGateway(clock=SimulatedClock(7))
    [result] = await paper.execute([instruction("ETH-USDT", BUY, 1)], [snapshot("BTC-USDT", 1.0)])
    assert result.status is TxStatus.REJECTED
    assert result.filled_qty == 0 and not result.fee_cost
    assert "ETH-USDT" in (result.reason or "")
    assert await paper.execute([], []) == []


async def test_a_fill_echoes_the_instruction_and_the_defaults_are_10_bps_fee_and_5_bps_slippage() -> (
    None
):
    inst = instruction("ETH-USDT", BUY, 1, leverage=2.0).model_copy(
        update={"stop_loss": 90.0, "take_profit": 120.0}
    )
    before = time.time_ns() // 1_000_000
    [result] = await PaperExecutionGateway().execute([inst], [snapshot("ETH-USDT", 100.0)])
    after = time.time_ns() // 1_000_000
    assert (result.instruction_id, result.instrument, result.side) == (
        inst.instruction_id,
        inst.instrument,
        BUY,
    )
    assert (result.leverage, result.stop_loss, result.take_profit) == (2.0, 90.0, 120.0)
    assert result.avg_exec_price == pytest.approx(100.05, rel=1e-12)
    assert result.fee_cost == pytest.approx(0.10005, rel=1e-12)
    assert before <= result.ts <= after  # no clock given: the wall clock


async def test_a_rejection_echoes_the_instruction() -> None:
    inst = instruction("ETH-USDT", SELL, 3, leverage=4.0)
    paper = PaperExecutionGateway(clock=SimulatedClock(9))
    [result] = await paper.execute([inst], [])
    assert (result.instruction_id, result.instrument, result.side, result.leverage) == (
        inst.instruction_id,
        inst.instrument,
        SELL,
        4.0,
    )
    assert (result.requested_qty, result.filled_qty, result.ts) == (3, 0.0, 9)
    assert (result.reason or "").startswith("no current price for ETH-USDT")
