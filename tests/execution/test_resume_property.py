"""Property: whatever intents are pending and whatever the venue holds, resuming an order never
books it under another symbol, side or quantity (issue 11: a retried stop booked BTC's fill as
the ETH close, because the ETH close had taken BTC's place in the list and so its client id)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.execution.harness import START_MS, open_rig
from tests.fakes import instruction, snapshot
from tests.hypothesis_budget import examples
from tradeloop.trading.errors import IntentMismatch
from tradeloop.trading.execution.ccxt_trading import LiveOrderConfig
from tradeloop.trading.execution.client_ids import client_order_id, order_keys
from tradeloop.trading.execution.intents import IntentStatus, OrderIntent
from tradeloop.trading.models import MarketType, TradeAction, TradeInstruction, TradeSide, TxStatus
from tradeloop.trading.venues import venue_profile

D = Decimal
PERP = MarketType.PERPETUAL
PROFILE = venue_profile("binance", PERP)
MARKET_ID = {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT"}
PRICES = [snapshot("BTC-USDT", 50000.0), snapshot("ETH-USDT", 3000.0)]
QUANTITIES = ["0.028", "0.791", "0.01", "0.1"]


@dataclass(frozen=True)
class Order:
    symbol: str
    side: TradeSide
    quantity: str
    reduce_only: bool

    def instruction(self, compose_id: str, index: int) -> TradeInstruction:
        if self.reduce_only:
            action = (
                TradeAction.CLOSE_LONG if self.side is TradeSide.SELL else TradeAction.CLOSE_SHORT
            )
        else:
            action = TradeAction.OPEN_LONG if self.side is TradeSide.BUY else TradeAction.OPEN_SHORT
        return instruction(
            self.symbol, self.side, float(self.quantity), index=index, compose_id=compose_id,
            action=action, leverage=2.0,
        )  # fmt: skip


@dataclass(frozen=True)
class Planted:
    """An intent stored before the batch runs: under the client id of batch order ``slot`` (a
    stale intent from an earlier attempt), holding ``order`` (maybe another order altogether)."""

    slot: int
    order: Order
    status: IntentStatus
    at_venue: bool
    """The venue accepted it (and filled it) before the crash."""


orders = st.builds(
    Order,
    symbol=st.sampled_from(sorted(MARKET_ID)),
    side=st.sampled_from([TradeSide.BUY, TradeSide.SELL]),
    quantity=st.sampled_from(QUANTITIES),
    reduce_only=st.booleans(),
)
planted = st.builds(
    Planted,
    slot=st.integers(0, 3),
    order=orders,
    status=st.sampled_from([IntentStatus.PENDING, IntentStatus.ACKED, IntentStatus.FILLED]),
    at_venue=st.booleans(),
)


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batch=st.lists(orders, min_size=1, max_size=4),
    stale=st.lists(planted, max_size=4),
    held=st.fixed_dictionaries({s: st.sampled_from(["0", "1", "-1"]) for s in MARKET_ID}),
)
def test_resuming_never_books_an_order_under_another_symbol_side_or_quantity(
    batch: list[Order], stale: list[Planted], held: dict[str, str]
) -> None:
    asyncio.run(_check(batch, stale, held))


async def _check(batch: list[Order], stale: list[Planted], held: dict[str, str]) -> None:
    rig = await open_rig(config=LiveOrderConfig(lookup_polls=1, fill_polls=1))
    try:
        for symbol, qty in held.items():
            rig.account.positions[MARKET_ID[symbol]] = D(qty)
        instructions = [o.instruction("stop_s_live_7", i) for i, o in enumerate(batch)]
        keys = order_keys("s_live", instructions)
        recorded_fills: set[str] = set()  # filled before the crash: booked from the store
        for plant in stale:
            if plant.slot < len(keys):
                cid = client_order_id(keys[plant.slot], PROFILE)
                if await _plant(rig, cid, plant):
                    recorded_fills.add(cid)
        try:
            results = await rig.gateway.execute(instructions, PRICES)
        except IntentMismatch:
            return  # refused outright: nothing was booked
        for inst, result in zip(instructions, results, strict=True):
            assert result.instrument.symbol == inst.instrument.symbol
            assert result.side is inst.side
            if result.client_order_id is None:
                continue
            intent = await rig.intents.get(result.client_order_id)
            assert intent is not None
            assert (intent.symbol, intent.side) == (inst.instrument.symbol, inst.side)
            assert intent.base_quantity <= D(repr(inst.quantity))
            if result.status in (TxStatus.FILLED, TxStatus.PARTIAL):
                assert D(repr(result.filled_qty)) <= D(repr(inst.quantity))
                venue = [o for o in rig.account.orders if o.client_id == result.client_order_id]
                assert venue or result.client_order_id in recorded_fills, (
                    "a fill must be a venue order or a fill recorded before the crash"
                )
                assert all(
                    (o.symbol_id, o.side) == (MARKET_ID[intent.symbol], intent.side.value.lower())
                    for o in venue
                )
    finally:
        await rig.close()


async def _plant(rig, cid: str, plant: Planted) -> bool:  # noqa: ANN001
    """Store ``plant`` under ``cid``; True when it was stored as already filled."""
    order = plant.order
    amount = D(order.quantity)
    intent = OrderIntent(
        client_order_id=cid,
        strategy_id="s_live",
        account="binance:perpetual:test",
        compose_id="stop_s_live_7",
        instruction_id=f"stale:{plant.slot}",
        symbol=order.symbol,
        market_symbol=f"{order.symbol.replace('-', '/')}:USDT",
        side=order.side,
        amount=amount,
        base_quantity=amount,
        reference_price=D(50000 if order.symbol == "BTC-USDT" else 3000),
        reduce_only=order.reduce_only,
        created_ts=START_MS,
    )
    stored = await rig.intents.record_intent(intent)
    if stored is not intent:
        return False  # two plants on one slot: the first stays
    if plant.status is IntentStatus.FILLED:
        from tradeloop.trading.execution.intents import Settlement

        await rig.intents.settle(
            cid,
            Settlement(status=IntentStatus.FILLED, filled_base=amount, avg_price=D(1), ts=START_MS),
        )
    elif plant.status is IntentStatus.ACKED:
        await rig.intents.mark_sent(cid, "999", START_MS)
    if plant.at_venue and plant.status is not IntentStatus.FILLED:
        try:
            rig.account.place(
                MARKET_ID[order.symbol], order.side.value.lower(), "market", amount, None, cid,
                order.reduce_only,
            )  # fmt: skip
        except Exception:  # noqa: BLE001  the venue refused it (reduce-only, funds): not there
            pass
    return plant.status is IntentStatus.FILLED
