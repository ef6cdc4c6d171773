"""A venue-neutral fake account: markets, orders, positions, balances, and scripted faults.

Venue dialects (``binance.py``, ``okx.py``, ``bybit.py``) translate the venue's REST requests into
calls on ``FakeAccount`` and its answers back into the venue's JSON. The account deliberately does
NOT reject a reused client order id once the first order is closed (Binance allows that), so a
gateway that resends shows up as a duplicate in ``orders_by_client_id``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class Reject(StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    MIN_NOTIONAL = "min_notional"
    MIN_AMOUNT = "min_amount"
    BAD_PRECISION = "bad_precision"
    REDUCE_ONLY = "reduce_only"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    NOT_FOUND = "not_found"
    BAD_KEY = "bad_key"
    BAD_SIGNATURE = "bad_signature"
    RATE_LIMITED = "rate_limited"
    BAD_SYMBOL = "bad_symbol"
    INVALID_ORDER = "invalid_order"
    NO_CHANGE = "no_change"


class FakeReject(Exception):
    def __init__(self, kind: Reject, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass
class FakeMarket:
    symbol_id: str
    base: str
    quote: str
    price: Decimal
    contract: bool = True
    contract_size: Decimal = Decimal(1)
    amount_step: Decimal = Decimal("0.001")
    min_amount: Decimal = Decimal("0.001")
    max_amount: Decimal = Decimal("1000")
    min_cost: Decimal = Decimal("5")
    price_step: Decimal = Decimal("0.1")


@dataclass
class FakeOrder:
    order_id: str
    client_id: str | None
    symbol_id: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None
    reduce_only: bool
    ts: int
    status: str = "open"
    filled: Decimal = ZERO
    avg_price: Decimal | None = None
    fee: Decimal = ZERO
    fee_asset: str = ""
    hidden_lookups: int = 0
    """Lookups that still answer "not found" (eventual consistency after a timeout)."""
    open_polls: int = 0
    """Queries that still show the order unfilled before it fills."""


@dataclass
class Faults:
    """Scripted faults; each counter is consumed as it fires."""

    accept_then_timeout: int = 0
    timeout_before_accept: int = 0
    hide_for_lookups: int = 0
    fill_after_polls: int = 0
    reject_next: list[Reject] = field(default_factory=list)
    rate_limit_next: int = 0
    rate_limit_paths: tuple[str, ...] = ()
    """Only requests whose path contains one of these are rate limited (empty: all)."""
    network_fail_next: int = 0
    network_fail_paths: tuple[str, ...] = ()
    skip_creates: int = 0
    """Creates that pass untouched before the create faults above fire (aim at the k-th order)."""


@dataclass
class FakeAccount:
    markets: dict[str, FakeMarket]
    api_key: str
    secret: str
    passphrase: str | None = None
    balances: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, Decimal] = field(default_factory=dict)
    """Signed order units (contracts) per contract market id."""
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: dict[str, str] = field(default_factory=dict)
    orders: list[FakeOrder] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    fee_rate: Decimal = Decimal("0.0004")
    requests: list[tuple[str, str]] = field(default_factory=list)
    now_ms: int = 1_700_000_000_000
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    # ------------------------------------------------------------------ what tests assert on

    def orders_by_client_id(self) -> Counter[str]:
        return Counter(o.client_id for o in self.orders if o.client_id)

    def duplicates(self) -> dict[str, int]:
        return {cid: n for cid, n in self.orders_by_client_id().items() if n > 1}

    def base_position(self, symbol_id: str) -> Decimal:
        market = self.markets[symbol_id]
        if market.contract:
            return self.positions.get(symbol_id, ZERO) * market.contract_size
        return self.balances.get(market.base, ZERO)

    # ------------------------------------------------------------------ orders

    def place(
        self,
        symbol_id: str,
        side: str,
        type_: str,
        amount: Decimal,
        price: Decimal | None,
        client_id: str | None,
        reduce_only: bool,
    ) -> FakeOrder:
        market = self._market(symbol_id)
        if self.faults.reject_next:
            kind = self.faults.reject_next.pop(0)
            raise FakeReject(kind, "scripted rejection")
        self._check_open_duplicate(client_id)
        self._check_amount(market, amount, price, reduce_only)
        order = FakeOrder(
            order_id=str(next(self._ids)),
            client_id=client_id,
            symbol_id=symbol_id,
            side=side,
            type=type_,
            amount=amount,
            price=price,
            reduce_only=reduce_only,
            ts=self.now_ms,
        )
        self._execute(market, order)
        self.orders.append(order)
        if self.faults.fill_after_polls and order.status == "closed":
            order.open_polls = self.faults.fill_after_polls
        return order

    def lookup_client_id(self, client_id: str) -> FakeOrder | None:
        """The newest order with this client id, unless it is still hidden."""
        matches = [o for o in self.orders if o.client_id == client_id]
        if not matches:
            return None
        order = matches[-1]
        if order.hidden_lookups > 0:
            order.hidden_lookups -= 1
            return None
        return order

    def lookup_order_id(self, order_id: str) -> FakeOrder | None:
        for order in self.orders:
            if order.order_id == order_id:
                return order
        return None

    def view(self, order: FakeOrder) -> FakeOrder:
        """The order as a query sees it now (unfilled while ``open_polls`` lasts)."""
        if order.open_polls > 0:
            order.open_polls -= 1
            return FakeOrder(**{**order.__dict__, "status": "open", "filled": ZERO, "fee": ZERO})
        return order

    def _market(self, symbol_id: str) -> FakeMarket:
        market = self.markets.get(symbol_id)
        if market is None:
            raise FakeReject(Reject.BAD_SYMBOL, symbol_id)
        return market

    def _check_open_duplicate(self, client_id: str | None) -> None:
        if client_id and any(o.client_id == client_id and o.status == "open" for o in self.orders):
            raise FakeReject(Reject.DUPLICATE_CLIENT_ID, client_id)

    def _check_amount(
        self, market: FakeMarket, amount: Decimal, price: Decimal | None, reduce_only: bool
    ) -> None:
        if amount <= 0 or amount % market.amount_step != 0:
            raise FakeReject(
                Reject.BAD_PRECISION, f"{amount} is not a multiple of {market.amount_step}"
            )
        if amount < market.min_amount or amount > market.max_amount:
            raise FakeReject(
                Reject.MIN_AMOUNT, f"{amount} outside [{market.min_amount}, {market.max_amount}]"
            )
        cost = amount * market.contract_size * (price or market.price)
        if cost < market.min_cost and not (reduce_only and market.contract):
            raise FakeReject(Reject.MIN_NOTIONAL, f"order value {cost} below {market.min_cost}")

    def _execute(self, market: FakeMarket, order: FakeOrder) -> None:
        fill_price = market.price
        if order.type == "limit" and order.price is not None:
            crosses = (
                order.price >= fill_price if order.side == "buy" else order.price <= fill_price
            )
            if not crosses:
                order.status = "canceled"  # IOC that cannot fill
                return
        if market.contract:
            self._fill_contract(market, order, fill_price)
        else:
            self._fill_spot(market, order, fill_price)
        order.status = "closed"
        order.filled = order.amount
        order.avg_price = fill_price

    def _fill_contract(self, market: FakeMarket, order: FakeOrder, price: Decimal) -> None:
        held = self.positions.get(order.symbol_id, ZERO)
        signed = order.amount if order.side == "buy" else -order.amount
        if order.reduce_only and (
            held == 0 or (held > 0) == (signed > 0) or abs(signed) > abs(held)
        ):
            raise FakeReject(Reject.REDUCE_ONLY, f"position {held}, order {signed}")
        notional = order.amount * market.contract_size * price
        opening = held == 0 or (held > 0) == (signed > 0)
        margin = notional / self.leverage.get(order.symbol_id, 1)
        if opening and margin > self.balances.get(market.quote, ZERO):
            raise FakeReject(Reject.INSUFFICIENT_FUNDS, f"margin {margin} above wallet")
        fee = notional * self.fee_rate
        self.balances[market.quote] = self.balances.get(market.quote, ZERO) - fee
        self.positions[order.symbol_id] = held + signed
        order.fee, order.fee_asset = fee, market.quote

    def _fill_spot(self, market: FakeMarket, order: FakeOrder, price: Decimal) -> None:
        base_qty, cost = order.amount, order.amount * price
        if order.side == "buy":
            if cost > self.balances.get(market.quote, ZERO):
                raise FakeReject(Reject.INSUFFICIENT_FUNDS, f"{cost} {market.quote} needed")
            fee = base_qty * self.fee_rate
            self.balances[market.quote] -= cost
            self.balances[market.base] = self.balances.get(market.base, ZERO) + base_qty - fee
            order.fee, order.fee_asset = fee, market.base
        else:
            if base_qty > self.balances.get(market.base, ZERO):
                raise FakeReject(Reject.INSUFFICIENT_FUNDS, f"{base_qty} {market.base} needed")
            fee = cost * self.fee_rate
            self.balances[market.base] -= base_qty
            self.balances[market.quote] = self.balances.get(market.quote, ZERO) + cost - fee
            order.fee, order.fee_asset = fee, market.quote

    # ------------------------------------------------------------------ faults at the transport

    def take_transport_fault(self, method: str, path: str) -> str | None:
        """``"rate_limited"`` or ``"network"`` when a scripted fault fires for this request.

        Fault paths match ``"<METHOD> <path>"`` by substring, e.g. ``"GET /fapi/v1/order"``."""
        faults = self.faults
        request = f"{method} {path}"
        if faults.rate_limit_next and _matches(request, faults.rate_limit_paths):
            faults.rate_limit_next -= 1
            return "rate_limited"
        if faults.network_fail_next and _matches(request, faults.network_fail_paths):
            faults.network_fail_next -= 1
            return "network"
        return None

    def take_create_fault(self) -> str | None:
        """``"before"``: time out without placing; ``"after"``: place, then time out."""
        if self.faults.skip_creates:
            self.faults.skip_creates -= 1
            return None
        if self.faults.timeout_before_accept:
            self.faults.timeout_before_accept -= 1
            return "before"
        if self.faults.accept_then_timeout:
            self.faults.accept_then_timeout -= 1
            return "after"
        return None


def _matches(path: str, fragments: tuple[str, ...]) -> bool:
    return not fragments or any(f in path for f in fragments)
