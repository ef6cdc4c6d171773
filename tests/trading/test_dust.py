"""Dust never ends a strategy: dust proposals are dropped with a reason, dust fills are rejected on
the cycle, and whatever a composer proposes the cycle ends ok with reasons (never an error)."""

from __future__ import annotations

import asyncio
import decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import RecordingGateway, ScriptedComposer, StaticPipeline
from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.models import (
    CycleStatus,
    ExchangeConfig,
    FeatureVector,
    MarketType,
    TradeAction,
    TradeInstruction,
    TradeSide,
    TradingConfig,
    TxResult,
    TxStatus,
    UserRequest,
)

BUY, SELL = TradeSide.BUY, TradeSide.SELL
BTC = 100_000.0
DUST_QUANTITIES = [1e-12, 1e-10, 5e-9, 1e-7]  # the last is worth 0.01 USDT at 100,000


def request(market: MarketType = MarketType.SPOT) -> UserRequest:
    return UserRequest(
        exchange_config=ExchangeConfig(market_type=market),
        trading_config=TradingConfig(
            initial_capital=10_000,
            symbols=["BTC-USDT", "ETH-USDT"],
            max_leverage=1 if market is MarketType.SPOT else 3,
        ),
    )


async def runtime_for(req, prices, script, gateway: BaseExecutionGateway | None = None):
    parts = Components(
        pipeline=StaticPipeline(prices),
        composer=ScriptedComposer(script),
        clock=SimulatedClock(1_700_000_000_000),
        gateway=gateway,
    )
    return await DefaultStrategyAgent().create_runtime(req, components=parts)


@pytest.mark.parametrize("qty", DUST_QUANTITIES)
async def test_a_dust_open_is_dropped_with_a_reason_and_the_cycle_ends_ok(qty: float) -> None:
    gateway = RecordingGateway(PaperExecutionGateway())
    runtime = await runtime_for(
        request(), [{"BTC-USDT": BTC}], [[("BTC-USDT", BUY, qty, None)]], gateway
    )
    result = await runtime.coordinator.run_once()
    assert result.status is CycleStatus.OK
    assert gateway.received == []
    [note] = result.guard_notes
    assert note.outcome == "dropped"
    assert "ledger's precision" in note.reason or "below the minimum notional" in note.reason
    assert result.portfolio.positions == {}
    assert result.portfolio.account_balance == 10_000


class DustFillingGateway(BaseExecutionGateway):
    """A venue that fills only 1e-13 of every order (a wire-level fake of a dust partial fill)."""

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        return [
            TxResult(
                instruction_id=i.instruction_id,
                instrument=i.instrument,
                side=i.side,
                status=TxStatus.PARTIAL,
                requested_qty=i.quantity,
                filled_qty=1e-13,
                avg_exec_price=BTC,
                fee_cost=1e-11,
            )
            for i in instructions
        ]


async def test_a_fill_that_moves_nothing_is_rejected_on_the_cycle_not_raised() -> None:
    runtime = await runtime_for(
        request(), [{"BTC-USDT": BTC}], [[("BTC-USDT", BUY, 0.01, None)]], DustFillingGateway()
    )
    result = await runtime.coordinator.run_once()
    assert result.status is CycleStatus.OK
    [tx] = result.tx_results
    assert tx.status is TxStatus.REJECTED
    assert tx.filled_qty == 0
    assert "would move nothing" in tx.reason
    assert result.trades == []
    assert result.portfolio.positions == {}
    assert result.portfolio.account_balance == 10_000
    assert result.portfolio.fees_paid == 0


ACTIONS = [None, *TradeAction]
QUANTITIES = st.one_of(
    st.sampled_from([*DUST_QUANTITIES, 0.0, -1.0, 1e-300, 1e308]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-13, max_value=10.0),
)
PROPOSAL = st.tuples(
    st.sampled_from(["BTC-USDT", "ETH-USDT", "DOGE-USDT"]),
    st.sampled_from([BUY, SELL]),
    QUANTITIES,
    st.sampled_from(ACTIONS),
)
PRICES = st.fixed_dictionaries(
    {"BTC-USDT": st.floats(1_000, 200_000), "ETH-USDT": st.floats(10, 10_000)}
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    market=st.sampled_from(list(MarketType)),
    script=st.lists(st.lists(PROPOSAL, max_size=4), min_size=1, max_size=4),
    prices=st.lists(PRICES, min_size=1, max_size=4),
)
def test_whatever_a_composer_proposes_the_cycle_ends_ok_with_reasons(market, script, prices):
    asyncio.run(_run_cycles(request(market), prices, script))


async def _run_cycles(req, prices, script) -> None:
    runtime = await runtime_for(req, prices, script)
    ledger_of = runtime.coordinator.portfolio
    for step in script:
        result = await runtime.coordinator.run_once()
        assert result.status is CycleStatus.OK
        noted = {n.instruction_id.split(".")[0] for n in result.guard_notes}  # legs: id.close
        sent = {i.instruction_id.split(".")[0] for i in result.instructions}
        for proposal in result.proposed:
            acted = proposal.instruction_id in sent or proposal.instruction_id in noted
            assert acted or proposal.action is TradeAction.HOLD, proposal
        for tx in result.tx_results:
            assert tx.status is TxStatus.FILLED or tx.reason, tx
        ledger = ledger_of.ledger  # type: ignore[attr-defined]
        with decimal.localcontext(prec=60):  # the ledger's exact context, not the default 28
            identity = (
                ledger.initial_capital + ledger.realized_pnl + ledger.unrealized_pnl
            ) - ledger.fees_paid
        assert ledger.equity == identity
        if req.exchange_config.market_type is MarketType.SPOT:
            assert ledger.cash >= 0
        assert len(result.proposed) == len(step)
