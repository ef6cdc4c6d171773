"""What became of an order that was sent (or may have been): found again by its client order id
(polling, since a venue may show it late), followed until it is final, and settled in the intent
log with its fills and fees; or settled NOT_FOUND when every lookup says it was never placed.
A venue that cannot be asked leaves the intent PENDING (``Unresolved``) for the next try."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import ccxt

from tradeloop.trading.clock import Clock
from tradeloop.trading.crashpoints import crash_point
from tradeloop.trading.errors import OperationalError
from tradeloop.trading.execution.ccxt_reads import AccountReads, describe_error
from tradeloop.trading.execution.intents import IntentStatus, IntentStore, OrderIntent, Settlement
from tradeloop.trading.models import InstrumentRef, TradeInstruction, TxResult, TxStatus
from tradeloop.trading.utils import to_decimal
from tradeloop.trading.venues import LookupCall, VenueProfile

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
_FINAL_ORDER_STATES = ("closed", "canceled", "cancelled", "expired", "rejected")
CRASH_AFTER_FILL = "after_fill_commit"


class Unresolved(Exception):
    """The venue could not be asked about an unknown outcome; the intent stays PENDING."""


class OrderOutcomes:
    """Looks orders up by client id and settles their intents; never sends an order."""

    def __init__(
        self,
        *,
        reads: AccountReads,
        intents: IntentStore,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._reads = reads
        self.venue: VenueProfile = reads.venue
        self.config = reads.config
        self.intents = intents
        self._clock = clock
        self._sleep = sleep

    async def resolve_or_error(
        self, exchange: Any, intent: OrderIntent, inst: TradeInstruction, why: str
    ) -> TxResult:
        """``resolve``, or an ERROR result saying the outcome is still unknown."""
        try:
            return await self.resolve(exchange, intent, inst, why)
        except Unresolved as unresolved:
            reason = f"outcome unknown ({why}); {unresolved}; resolved before the next order"
            stored = await self.intents.get(intent.client_order_id) or intent
            return result_for(stored, inst, TxStatus.ERROR, reason, self._clock.now_ms())

    async def resolve(
        self, exchange: Any, intent: OrderIntent, inst: TradeInstruction | None, why: str
    ) -> TxResult:
        """Find the order by client id (polling), follow it to a final state; or settle NOT_FOUND."""
        for poll in range(self.config.lookup_polls):
            order = await self._find(exchange, intent)
            if order is not None:
                return await self.follow(exchange, intent, inst, order)
            if poll + 1 < self.config.lookup_polls:
                await self._sleep(self.config.backoff(poll))
        reason = (
            f"not placed: outcome was unknown ({why}) and {self.config.lookup_polls} lookups by "
            f"client id {intent.client_order_id} found no order"
        )
        settled = await self.settle(intent, IntentStatus.NOT_FOUND, reason)
        logger.warning(
            "strategy_id=%s compose_id=%s %s", intent.strategy_id, intent.compose_id, reason
        )
        return tx_result_from_intent(settled, inst)

    async def resolve_pending(self, exchange: Any) -> tuple[list[OrderIntent], list[OrderIntent]]:
        """Look up every unresolved intent of the strategy: (settled now, still unresolved)."""
        settled, unresolved = [], []
        strategy_id = self._reads.strategy_id
        for intent in await self.intents.list_intents(strategy_id, unresolved_only=True):
            try:
                await self.resolve(exchange, intent, None, "found unresolved")
            except Unresolved as exc:
                logger.warning(
                    "strategy_id=%s intent %s still unresolved: %s",
                    strategy_id,
                    intent.client_order_id,
                    exc,
                )
                unresolved.append(intent)
                continue
            after = await self.intents.get(intent.client_order_id)
            if after is not None and after.status.final:
                settled.append(after)
            elif after is not None:
                unresolved.append(after)
        return settled, unresolved

    async def follow(
        self,
        exchange: Any,
        intent: OrderIntent,
        inst: TradeInstruction | None,
        order: dict[str, Any],
    ) -> TxResult:
        """Store the exchange order id, query the order until it is final, settle its fills."""
        order_id = str(order.get("id") or "") or None
        if order_id and intent.exchange_order_id != order_id:
            await self.intents.mark_sent(intent.client_order_id, order_id, self._clock.now_ms())
            intent = intent.model_copy(update={"exchange_order_id": order_id})
        for poll in range(self.config.fill_polls):
            if _is_final(order) or order_id is None:
                break
            await self._sleep(self.config.backoff(poll))
            order = await self._query(exchange, intent, order_id)
        if not _is_final(order):
            reason = f"accepted as {order_id}, not final after {self.config.fill_polls} queries"
            return result_for(intent, inst, TxStatus.ERROR, reason, self._clock.now_ms())
        settlement = await self._settlement(exchange, intent, order)
        settled = await self.intents.settle(intent.client_order_id, settlement)
        _log_settled(settled)
        crash_point(CRASH_AFTER_FILL)
        return tx_result_from_intent(settled, inst)

    async def settle(self, intent: OrderIntent, status: IntentStatus, reason: str) -> OrderIntent:
        return await self.intents.settle(
            intent.client_order_id,
            Settlement(status=status, reason=reason, ts=self._clock.now_ms()),
        )

    async def _find(self, exchange: Any, intent: OrderIntent) -> dict[str, Any] | None:
        for call in self.venue.lookup:
            try:
                found = await self._reads.read(
                    exchange,
                    f"lookup {call.method}",
                    lambda c=call: _lookup(exchange, c, intent),  # type: ignore[misc]
                )
            except ccxt.OrderNotFound:
                continue
            except ccxt.AuthenticationError:
                raise OperationalError(
                    f"{self.venue.name} rejected the API credentials (order lookup)"
                ) from None
            except ccxt.BaseError as exc:
                raise Unresolved(f"lookup failed: {describe_error(exc, exchange)}") from None
            if found is not None:
                return found
        return None

    async def _query(self, exchange: Any, intent: OrderIntent, order_id: str) -> dict[str, Any]:
        try:
            return await self._reads.read(
                exchange,
                "fetch_order",
                lambda: exchange.fetch_order(
                    order_id, intent.market_symbol, dict(self.venue.fetch_order_params)
                ),
            )
        except ccxt.BaseError as exc:
            raise Unresolved(
                f"order {order_id} could not be read: {describe_error(exc, exchange)}"
            ) from None

    async def _settlement(
        self, exchange: Any, intent: OrderIntent, order: dict[str, Any]
    ) -> Settlement:
        market = exchange.markets.get(intent.market_symbol) or {}
        size = _contract_size(market, self.venue)
        filled = to_decimal(str(order.get("filled") or 0)) * size
        average = _avg_price(order, filled, size)
        fees = order.get("fees") or ([order["fee"]] if order.get("fee") else [])
        if self.venue.fetch_fills_from_trades and filled > 0 and order.get("id"):
            fees = await self._trade_fees(exchange, intent, str(order["id"])) or fees
        base_fee, quote_fee = _split_fees(fees, market, average, intent)
        net = max(ZERO, filled - base_fee)
        status = _final_status(filled, intent.base_quantity)
        reason = (
            None
            if status is not IntentStatus.REJECTED
            else f"venue status {order.get('status')}, nothing filled"
        )
        return Settlement(
            status=status,
            filled_base=net,
            avg_price=average,
            fee_quote=quote_fee,
            exchange_order_id=str(order.get("id")) if order.get("id") else None,
            reason=reason,
            ts=self._clock.now_ms(),
        )

    async def _trade_fees(
        self, exchange: Any, intent: OrderIntent, order_id: str
    ) -> list[dict[str, Any]]:
        try:
            trades = await self._reads.read(
                exchange,
                "fetch_my_trades",
                lambda: exchange.fetch_my_trades(
                    intent.market_symbol, params={"orderId": order_id}
                ),
            )
        except ccxt.BaseError as exc:
            logger.warning(
                "strategy_id=%s fees of %s unreadable (%s): recorded as 0",
                intent.strategy_id,
                order_id,
                type(exc).__name__,
            )
            return []
        return [t["fee"] for t in trades if t.get("fee") and str(t.get("order")) == order_id]


async def _lookup(exchange: Any, call: LookupCall, intent: OrderIntent) -> dict[str, Any] | None:
    params = {call.param: intent.client_order_id, **call.extra}
    method = getattr(exchange, call.method)
    if not call.returns_list:
        return await method(None, intent.market_symbol, params)
    orders = await method(intent.market_symbol, None, None, params)
    matches = [o for o in orders if o.get("clientOrderId") == intent.client_order_id]
    return matches[-1] if matches else None


def _is_final(order: Mapping[str, Any]) -> bool:
    return str(order.get("status") or "").lower() in _FINAL_ORDER_STATES


def _final_status(filled: Decimal, asked: Decimal) -> IntentStatus:
    if filled <= 0:
        return IntentStatus.REJECTED
    return IntentStatus.FILLED if filled >= asked else IntentStatus.PARTIAL


def _contract_size(market: Mapping[str, Any], venue: VenueProfile) -> Decimal:
    if venue.amount_in_contracts and market.get("contract"):
        return to_decimal(str(market.get("contractSize") or 1))
    return Decimal(1)


def _avg_price(order: Mapping[str, Any], filled_base: Decimal, size: Decimal) -> Decimal | None:
    if order.get("average"):
        return to_decimal(str(order["average"]))
    cost = order.get("cost")
    if cost and filled_base > 0:
        return to_decimal(str(cost)) / filled_base
    return None


def _split_fees(
    fees: Sequence[Mapping[str, Any]],
    market: Mapping[str, Any],
    price: Decimal | None,
    intent: OrderIntent,
) -> tuple[Decimal, Decimal]:
    """(fee paid in base units, total fee in quote units incl. the base part at ``price``)."""
    base_fee, quote_fee = ZERO, ZERO
    for fee in fees:
        cost = to_decimal(str(fee.get("cost") or 0))
        currency = fee.get("currency")
        if cost == 0:
            continue
        if currency == market.get("quote") or currency == market.get("settle"):
            quote_fee += cost
        elif currency == market.get("base") and not market.get("contract"):
            base_fee += cost
            quote_fee += cost * (price or ZERO)
        else:
            logger.warning(
                "strategy_id=%s fee of %s %s on %s is not in the quote currency: not booked",
                intent.strategy_id,
                cost,
                currency,
                intent.client_order_id,
            )
    return base_fee, quote_fee


_TX_STATUS = {
    IntentStatus.FILLED: TxStatus.FILLED,
    IntentStatus.PARTIAL: TxStatus.PARTIAL,
    IntentStatus.REJECTED: TxStatus.REJECTED,
    IntentStatus.NOT_FOUND: TxStatus.REJECTED,
    IntentStatus.PENDING: TxStatus.ERROR,
    IntentStatus.ACKED: TxStatus.ERROR,
}


def tx_result_from_intent(intent: OrderIntent, inst: TradeInstruction | None = None) -> TxResult:
    """The ``TxResult`` an intent stands for (``inst`` keeps the instruction's own fields)."""
    own = inst is not None and inst.instrument.symbol == intent.symbol
    instrument = (
        inst.instrument if inst is not None and own else InstrumentRef(symbol=intent.symbol)
    )
    return TxResult(
        instruction_id=inst.instruction_id if inst else intent.instruction_id,
        instrument=instrument,
        side=intent.side,
        status=_TX_STATUS[intent.status],
        requested_qty=inst.quantity if inst else float(intent.base_quantity),
        filled_qty=float(intent.filled_base),
        avg_exec_price=float(intent.avg_price) if intent.avg_price is not None else None,
        fee_cost=float(intent.fee_quote),
        leverage=intent.leverage,
        reason=intent.reason,
        ts=intent.updated_ts or intent.created_ts,
        client_order_id=intent.client_order_id,
        exchange_order_id=intent.exchange_order_id,
    )


def result_for(
    intent: OrderIntent, inst: TradeInstruction | None, status: TxStatus, reason: str, ts: int
) -> TxResult:
    """The intent's result with another status and reason (an outcome still unknown)."""
    result = tx_result_from_intent(intent, inst)
    return result.model_copy(update={"status": status, "reason": reason, "ts": ts})


def _log_settled(intent: OrderIntent) -> None:
    logger.info(
        "strategy_id=%s compose_id=%s order %s (%s) %s: filled %s at %s, fee %s",
        intent.strategy_id,
        intent.compose_id,
        intent.client_order_id,
        intent.exchange_order_id,
        intent.status.value,
        intent.filled_base,
        intent.avg_price,
        intent.fee_quote,
    )
