"""Order intents: what the live gateway is about to send, written down before it is sent.

Life of an intent::

    record_intent ──> PENDING ──(venue acknowledged)── mark_sent ──> ACKED
                         │                                            │
                         └───────────────────── settle ───────────────┴──> FILLED | PARTIAL
                                                                          | REJECTED | NOT_FOUND

``PENDING`` means "maybe at the venue": the process may have died just before or just after
sending. Such an intent is only ever resolved by looking the order up by its client order id, never
by sending it again. ``NOT_FOUND`` is the final state of an intent whose lookups found nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from tradeloop.trading.errors import AccountingError
from tradeloop.trading.models import TradeInstruction, TradeSide
from tradeloop.trading.utils import to_decimal

ZERO = Decimal(0)


class IntentStatus(StrEnum):
    PENDING = "pending"
    ACKED = "acked"
    FILLED = "filled"
    PARTIAL = "partial"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"

    @property
    def final(self) -> bool:
        return self not in (IntentStatus.PENDING, IntentStatus.ACKED)


class OrderIntent(BaseModel):
    """One order as decided, before and after the venue saw it. Quantities are exact decimals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_order_id: str
    strategy_id: str
    account: str
    """The venue account (``ExchangeKey`` rendered), so several strategies can share one."""
    compose_id: str
    instruction_id: str
    symbol: str
    """Canonical ``BASE-QUOTE``."""
    market_symbol: str
    """The ccxt symbol the order was sent for."""
    side: TradeSide
    order_type: str = "market"
    amount: Decimal
    """Order units sent to ccxt (contracts on contract markets)."""
    base_quantity: Decimal
    reference_price: Decimal
    limit_price: Decimal | None = None
    reduce_only: bool = False
    leverage: float | None = None
    created_ts: int
    status: IntentStatus = IntentStatus.PENDING
    exchange_order_id: str | None = None
    filled_base: Decimal = ZERO
    avg_price: Decimal | None = None
    fee_quote: Decimal = ZERO
    reason: str | None = None
    updated_ts: int = 0
    applied: bool = False
    """The fills are in the strategy's portfolio (set by whoever commits the portfolio)."""

    @property
    def signed_fill(self) -> Decimal:
        return self.filled_base if self.side is TradeSide.BUY else -self.filled_base


class Settlement(BaseModel):
    """The final outcome of an intent, as read from the venue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: IntentStatus
    filled_base: Decimal = ZERO
    avg_price: Decimal | None = None
    fee_quote: Decimal = ZERO
    exchange_order_id: str | None = None
    reason: str | None = None
    ts: int = Field(ge=0)


class IntentStore(Protocol):
    """Durable intent log of the live gateway.

    Failure contract: every method either commits before returning or raises; nothing is buffered.
    ``record_intent`` of a client order id that already exists changes nothing and returns the
    stored intent, which is how a repeated instruction is recognized instead of resent.
    ``settle`` of an already final intent raises ``AccountingError`` unless the outcome is the same.
    """

    async def record_intent(self, intent: OrderIntent) -> OrderIntent: ...

    async def mark_sent(self, client_order_id: str, exchange_order_id: str, ts: int) -> None: ...

    async def settle(self, client_order_id: str, settlement: Settlement) -> OrderIntent: ...

    async def get(self, client_order_id: str) -> OrderIntent | None: ...

    async def list_intents(
        self, strategy_id: str | None = None, *, unresolved_only: bool = False
    ) -> list[OrderIntent]:
        """Intents in creation order, optionally of one strategy and only those not final."""
        ...

    async def traded_value_since(self, strategy_id: str, since_ts: int) -> Decimal:
        """Sum of ``base_quantity x reference_price`` of intents created at or after ``since_ts``
        that may have traded (everything except REJECTED and NOT_FOUND): conservative on purpose."""
        ...

    async def unapplied_fills(self, strategy_id: str) -> list[OrderIntent]:
        """FILLED and PARTIAL intents with a fill no portfolio has taken yet (``applied`` false),
        in creation order: an order that filled while its cycle was never committed. Only those
        two statuses are fills (as in the portfolio, ``TxStatus.FILLED``/``PARTIAL``): REJECTED
        means nothing filled, so a quantity recorded with it is never handed over."""
        ...

    async def mark_applied(self, client_order_ids: Iterable[str], ts: int) -> None:
        """Mark these fills as taken by the portfolio, all or none: raises ``AccountingError``
        when an id is unknown (a fill with no intent behind it) or already applied."""
        ...


def apply_settlement(intent: OrderIntent, settlement: Settlement) -> OrderIntent:
    """The intent after ``settlement``; refuses to rewrite a different final outcome. Pure."""
    if intent.status.final:
        if _same_outcome(intent, settlement):
            return intent
        raise AccountingError(
            f"intent {intent.client_order_id} is already {intent.status}; refusing {settlement.status}"
        )
    if not settlement.status.final:
        raise AccountingError(f"settle needs a final status, got {settlement.status}")
    return intent.model_copy(
        update={
            "status": settlement.status,
            "filled_base": settlement.filled_base,
            "avg_price": settlement.avg_price,
            "fee_quote": settlement.fee_quote,
            "exchange_order_id": settlement.exchange_order_id or intent.exchange_order_id,
            "reason": settlement.reason or intent.reason,
            "updated_ts": settlement.ts,
        }
    )


def _same_outcome(intent: OrderIntent, settlement: Settlement) -> bool:
    return intent.status is settlement.status and intent.filled_base == settlement.filled_base


def resume_mismatch(intent: OrderIntent, strategy_id: str, inst: TradeInstruction) -> str | None:
    """Why ``intent`` is not the order ``inst`` asks for (None when it is). Pure.

    An intent is only ever resumed as the very order it records: same strategy, symbol, side and
    reduce-only, and never more than the instruction's quantity (the venue's rounding only ever
    takes some away)."""
    problems = []
    if intent.strategy_id != strategy_id:
        problems.append(f"strategy {intent.strategy_id} (asked {strategy_id})")
    if intent.symbol != inst.instrument.symbol:
        problems.append(f"symbol {intent.symbol} (asked {inst.instrument.symbol})")
    if intent.side is not inst.side:
        problems.append(f"side {intent.side.value} (asked {inst.side.value})")
    if intent.reduce_only != inst.reduce_only:
        problems.append(f"reduce_only {intent.reduce_only} (asked {inst.reduce_only})")
    if intent.base_quantity > to_decimal(inst.quantity):
        problems.append(f"quantity {intent.base_quantity} (asked {inst.quantity})")
    if not problems:
        return None
    return (
        f"stored order {intent.client_order_id} is {', '.join(problems)}: refusing to resume it "
        f"as instruction {inst.instruction_id}; nothing was booked"
    )


def positions_from_intents(intents: Iterable[OrderIntent]) -> dict[str, Decimal]:
    """Signed base quantity per symbol that these intents' fills add up to (zeros left out)."""
    totals: dict[str, Decimal] = {}
    for intent in intents:
        if intent.filled_base:
            totals[intent.symbol] = totals.get(intent.symbol, ZERO) + intent.signed_fill
    return {symbol: qty for symbol, qty in totals.items() if qty != 0}


def is_fill(intent: OrderIntent) -> bool:
    """The intent settled with a quantity the portfolio must take (FILLED or PARTIAL, above 0)."""
    return intent.status in (IntentStatus.FILLED, IntentStatus.PARTIAL) and intent.filled_base > 0


def check_applicable(client_order_ids: Sequence[str], applied: Mapping[str, bool]) -> None:
    """Raise ``AccountingError`` unless every id is a known intent whose fill no portfolio took
    yet (``applied``: the stored flag of each id the store knows). The one rule of every store's
    ``mark_applied``: a fill is taken once, and never one with no intent behind it."""
    unknown = [cid for cid in dict.fromkeys(client_order_ids) if cid not in applied]
    if unknown:
        raise AccountingError(f"no intent with client order id {', '.join(unknown)}")
    twice = [cid for cid in dict.fromkeys(client_order_ids) if applied[cid]]
    if twice:
        raise AccountingError(f"fills already applied to the portfolio: {', '.join(twice)}")


def counts_toward_traded_value(intent: OrderIntent) -> bool:
    return intent.status not in (IntentStatus.REJECTED, IntentStatus.NOT_FOUND)


class InMemoryIntentStore:
    """An ``IntentStore`` in a dict: tests, and paper runs of the live code path."""

    def __init__(self) -> None:
        self._intents: dict[str, OrderIntent] = {}
        self._lock = asyncio.Lock()

    async def record_intent(self, intent: OrderIntent) -> OrderIntent:
        async with self._lock:
            return self._intents.setdefault(intent.client_order_id, intent)

    async def mark_sent(self, client_order_id: str, exchange_order_id: str, ts: int) -> None:
        async with self._lock:
            intent = self._require(client_order_id)
            update: dict[str, object] = {"exchange_order_id": exchange_order_id, "updated_ts": ts}
            if intent.status is IntentStatus.PENDING:
                update["status"] = IntentStatus.ACKED
            self._intents[client_order_id] = intent.model_copy(update=update)

    async def settle(self, client_order_id: str, settlement: Settlement) -> OrderIntent:
        async with self._lock:
            settled = apply_settlement(self._require(client_order_id), settlement)
            self._intents[client_order_id] = settled
            return settled

    async def get(self, client_order_id: str) -> OrderIntent | None:
        return self._intents.get(client_order_id)

    async def list_intents(
        self, strategy_id: str | None = None, *, unresolved_only: bool = False
    ) -> list[OrderIntent]:
        # creation order as in SQLite (created_ts, then insertion: the sort is stable)
        return sorted(
            (
                i
                for i in self._intents.values()
                if (strategy_id is None or i.strategy_id == strategy_id)
                and not (unresolved_only and i.status.final)
            ),
            key=lambda i: i.created_ts,
        )

    async def traded_value_since(self, strategy_id: str, since_ts: int) -> Decimal:
        total = ZERO
        for intent in await self.list_intents(strategy_id):
            if intent.created_ts >= since_ts and counts_toward_traded_value(intent):
                total += intent.base_quantity * intent.reference_price
        return total

    async def unapplied_fills(self, strategy_id: str) -> list[OrderIntent]:
        return [i for i in await self.list_intents(strategy_id) if is_fill(i) and not i.applied]

    async def mark_applied(self, client_order_ids: Iterable[str], ts: int) -> None:
        async with self._lock:
            ids = list(client_order_ids)
            known = {cid: self._intents[cid].applied for cid in ids if cid in self._intents}
            check_applicable(ids, known)
            for cid in ids:
                self._intents[cid] = self._intents[cid].model_copy(
                    update={"applied": True, "updated_ts": ts}
                )

    def _require(self, client_order_id: str) -> OrderIntent:
        intent = self._intents.get(client_order_id)
        if intent is None:
            raise AccountingError(f"no intent with client order id {client_order_id}")
        return intent
