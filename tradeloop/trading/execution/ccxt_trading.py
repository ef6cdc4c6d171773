"""CCXTExecutionGateway: live orders through ccxt, each sent at most once.

For every instruction, in order:

1. size it for the market (``sizing.size_order``): a quantity the venue would refuse is dropped
   here with a reason, nothing is sent;
2. set leverage and margin mode before an opening order (once per symbol and setting);
3. commit an ``OrderIntent`` under a deterministic client order id (``client_ids``);
4. send ``create_order`` exactly once. ``create_order`` is never retried: a timeout, a network
   error or an unreadable answer after sending is an UNKNOWN outcome, resolved by looking the
   order up by its client order id (polling, since a venue may show it late);
5. store the exchange order id, follow the order until it is final, store its fills.

An instruction whose client order id is already stored is resumed from the store, never resent.
While any earlier intent of the strategy is unresolved (the venue could not be asked), no new
order is sent: the results say why. Reads (lookups, positions, balance, leverage settings) retry
with exponential backoff on ``ccxt.NetworkError`` only.

Errors, as the caller sees them::

    instruction refused by sizing, caps or the venue   -> TxResult REJECTED with the reason
    outcome unknown and the venue unreachable          -> TxResult ERROR (intent stays PENDING)
    venue rejected the credentials                     -> OperationalError: stop the strategy
    venue unreachable before anything was sent        -> TemporaryError: try next cycle
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar

import ccxt

from tradeloop.testing.crashpoints import crash_point
from tradeloop.trading.clock import Clock
from tradeloop.trading.data.exchanges import translate_ccxt_errors
from tradeloop.trading.errors import (
    ConfigError,
    IntentMismatch,
    OperationalError,
    TemporaryError,
)
from tradeloop.trading.execution.client_ids import OrderKey, client_order_id, order_keys
from tradeloop.trading.execution.intents import (
    IntentStatus,
    IntentStore,
    OrderIntent,
    Settlement,
    resume_mismatch,
)
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.execution.sizing import (
    Dropped,
    MarketRules,
    OrderCaps,
    limit_price,
    size_order,
)
from tradeloop.trading.execution.venues import LookupCall, VenueProfile
from tradeloop.trading.models import (
    FeatureVector,
    InstrumentRef,
    TradeInstruction,
    TradeSide,
    TxResult,
    TxStatus,
    UserRequest,
)
from tradeloop.trading.portfolio.views import snapshot_prices
from tradeloop.trading.utils import to_ccxt_symbol, to_decimal

logger = logging.getLogger(__name__)

T = TypeVar("T")
ExchangeSource = Callable[[], Awaitable[Any]]
"""Returns the shared ccxt exchange for the account, markets loaded."""

DAY_MS = 86_400_000
ZERO = Decimal(0)
_FINAL_ORDER_STATES = ("closed", "canceled", "cancelled", "expired", "rejected")
_DEFINITE_REJECTIONS: tuple[type[Exception], ...] = (
    ccxt.InsufficientFunds,
    ccxt.InvalidOrder,
    ccxt.BadRequest,
    ccxt.OperationRejected,
    ccxt.NotSupported,
    ccxt.ArgumentsRequired,
    ccxt.InvalidAddress,
)
"""The venue answered and refused: nothing was placed. Anything else after sending is unknown."""

CRASH_AFTER_INTENT = "after_intent_commit"
CRASH_AFTER_ACCEPT = "after_exchange_accept"
CRASH_AFTER_FILL = "after_fill_commit"


@dataclass(frozen=True, slots=True)
class LiveOrderConfig:
    order_type: Literal["market", "limit"] = "market"
    """``limit``: an immediate-or-cancel order at most ``max_slippage_bps`` from the price."""
    margin_mode: Literal["cross", "isolated"] = "cross"
    max_slippage_bps: int = 5
    max_order_value: Decimal | None = None
    max_daily_traded_value: Decimal | None = None
    """UTC day; counts every intent that may have traded (conservative)."""
    lookup_polls: int = 6
    """Lookups by client order id before an unknown outcome is settled as not placed."""
    fill_polls: int = 6
    """Queries of an accepted order until it is final."""
    read_attempts: int = 4
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0

    @classmethod
    def from_request(cls, request: UserRequest, **overrides: Any) -> LiveOrderConfig:
        cfg, ex = request.trading_config, request.exchange_config
        values: dict[str, Any] = {
            "margin_mode": ex.margin_mode,
            "max_slippage_bps": ex.max_slippage_bps,
            "max_order_value": _opt_dec(cfg.max_order_value),
            "max_daily_traded_value": _opt_dec(cfg.max_daily_traded_value),
        }
        values.update(overrides)
        return cls(**values)


class _Unresolved(Exception):
    """The venue could not be asked about an unknown outcome; the intent stays PENDING."""


class CCXTExecutionGateway(BaseExecutionGateway):
    """Live execution for one strategy on one venue account."""

    def __init__(
        self,
        *,
        strategy_id: str,
        account: str,
        venue: VenueProfile,
        exchange: ExchangeSource,
        intents: IntentStore,
        clock: Clock,
        config: LiveOrderConfig | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.strategy_id = strategy_id
        self.account = account
        self.venue = venue
        self._exchange_source = exchange
        self.intents = intents
        self._clock = clock
        self.config = config or LiveOrderConfig()
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._prepared: set[tuple[str, int, str]] = set()

    # ------------------------------------------------------------------ public

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        async with self._lock:
            exchange = await self._exchange()
            _, unresolved = await self._resolve_pending(exchange)
            blocked = _blocked_reason(unresolved)
            prices = snapshot_prices(market_features or [])
            results: list[TxResult] = []
            keys = order_keys(self.strategy_id, instructions)
            for key, inst in zip(keys, instructions, strict=True):
                if blocked is not None:
                    results.append(_result(inst, TxStatus.ERROR, blocked, self._clock.now_ms()))
                    continue
                try:
                    result = await self._execute_one(exchange, key, inst, prices)
                except TemporaryError as exc:
                    blocked = f"not sent: {exc}"
                    result = _result(inst, TxStatus.ERROR, blocked, self._clock.now_ms())
                results.append(result)
                if await self._unknown(result):
                    blocked = f"not sent: the outcome of {result.client_order_id} is unknown"
            return results

    async def _unknown(self, result: TxResult) -> bool:
        if result.status is not TxStatus.ERROR or result.client_order_id is None:
            return False
        intent = await self.intents.get(result.client_order_id)
        return intent is not None and not intent.status.final

    async def resolve_pending(self) -> tuple[list[OrderIntent], list[OrderIntent]]:
        """Look up every unresolved intent of this strategy: (settled now, still unresolved)."""
        async with self._lock:
            return await self._resolve_pending(await self._exchange())

    async def fetch_positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Signed base quantity per canonical symbol on the account (spot: total base balance).
        An unreachable venue raises ``TemporaryError``, rejected credentials ``OperationalError``."""
        exchange = await self._exchange()
        with translate_ccxt_errors(self.venue.name, exchange=exchange):
            return await self._positions(exchange, symbols)

    async def _positions(self, exchange: Any, symbols: Sequence[str]) -> dict[str, Decimal]:
        if not self.venue.perpetual:
            balance = await self._read(exchange, "fetch_balance", exchange.fetch_balance)
            totals = balance.get("total") or {}
            return {s: to_decimal(str(totals.get(s.split("-")[0]) or 0)) for s in symbols}
        markets = [self._market_symbol(s) for s in symbols]
        batches = [[m] for m in markets] if self.venue.positions_one_symbol_per_call else [markets]
        rows = []
        for batch in batches:
            rows += await self._read(
                exchange,
                "fetch_positions",
                lambda b=batch: exchange.fetch_positions(b),  # type: ignore[misc]
            )
        found = {s: ZERO for s in symbols}
        by_market = dict(zip(markets, symbols, strict=True))
        for row in rows:
            symbol = by_market.get(row.get("symbol"))
            if symbol is not None:
                found[symbol] += _position_base(row, exchange)
        return found

    async def fetch_cash(self, currency: str) -> tuple[Decimal, Decimal]:
        """(free, total) balance of ``currency`` on the account (errors as ``fetch_positions``)."""
        exchange = await self._exchange()
        with translate_ccxt_errors(self.venue.name, exchange=exchange):
            balance = await self._read(exchange, "fetch_balance", exchange.fetch_balance)
        free = (balance.get("free") or {}).get(currency)
        total = (balance.get("total") or {}).get(currency)
        return to_decimal(str(free or 0)), to_decimal(str(total or 0))

    async def market_rules(self, symbol: str) -> MarketRules:
        """The venue's rules for ``symbol`` (e.g. to give the guardrails ``Constraints`` in base
        units: ``rules.base_step``, ``rules.base_min_amount``, ``rules.min_cost``)."""
        exchange = await self._exchange()
        market = exchange.markets.get(self._market_symbol(symbol))
        if market is None:
            raise ConfigError(f"{self.venue.name} has no market {self._market_symbol(symbol)}")
        market_order = self.config.order_type == "market"
        return MarketRules.from_ccxt(market, exchange.precisionMode, market_order=market_order)

    # ------------------------------------------------------------------ one instruction

    async def _execute_one(
        self, exchange: Any, key: OrderKey, inst: TradeInstruction, prices: Mapping[str, Decimal]
    ) -> TxResult:
        cid = client_order_id(key, self.venue)
        existing = await self.intents.get(cid)
        if existing is not None:
            return await self._resume(exchange, existing, inst)
        try:
            intent = await self._new_intent(exchange, cid, inst, prices)
        except _Refused as refused:
            self._log(inst, "refused: %s", refused.reason)
            return _result(inst, TxStatus.REJECTED, refused.reason, self._clock.now_ms(), cid)
        stored = await self.intents.record_intent(intent)
        if stored is not intent:
            return await self._resume(exchange, stored, inst)
        crash_point(CRASH_AFTER_INTENT)
        return await self._send(exchange, stored, inst)

    async def _new_intent(
        self, exchange: Any, cid: str, inst: TradeInstruction, prices: Mapping[str, Decimal]
    ) -> OrderIntent:
        market_symbol = self._market_symbol(inst.instrument.symbol)
        market = exchange.markets.get(market_symbol)
        if market is None:
            raise _Refused(f"{self.venue.name} has no market {market_symbol}")
        rules = MarketRules.from_ccxt(
            market, exchange.precisionMode, market_order=self.config.order_type == "market"
        )
        price = prices.get(inst.instrument.symbol)
        if price is None:
            price = await self._ticker_price(exchange, market_symbol)
        caps = await self._caps(inst)
        sized = size_order(
            to_decimal(inst.quantity),
            price,
            rules,
            caps,
            reduce_only=inst.reduce_only,
            exempt_min_cost_when_reducing=self.venue.reduce_only_exempt_from_min_cost,
        )
        if isinstance(sized, Dropped):
            raise _Refused(sized.reason)
        clamped = f"amount clamped by {', '.join(sized.clamped_by)}" if sized.clamped_by else None
        if clamped:
            self._log(inst, "%s", clamped)
        leverage = _leverage(inst)
        if self.venue.perpetual and not inst.reduce_only:
            await self._prepare(exchange, market_symbol, leverage)
        return OrderIntent(
            client_order_id=cid,
            strategy_id=self.strategy_id,
            account=self.account,
            compose_id=inst.compose_id,
            instruction_id=inst.instruction_id,
            symbol=inst.instrument.symbol,
            market_symbol=market_symbol,
            side=inst.side,
            order_type=self.config.order_type,
            amount=sized.amount,
            base_quantity=sized.base_quantity,
            reference_price=price,
            limit_price=self._limit_price(price, inst.side, rules),
            reduce_only=inst.reduce_only,
            leverage=float(leverage) if self.venue.perpetual else None,
            reason=clamped,
            created_ts=self._clock.now_ms(),
            updated_ts=self._clock.now_ms(),
        )

    async def _send(self, exchange: Any, intent: OrderIntent, inst: TradeInstruction) -> TxResult:
        order_type = intent.order_type
        price = float(intent.limit_price) if intent.limit_price is not None else None
        self._log(
            inst,
            "sending %s %s %s %s (client id %s)",
            order_type,
            intent.side.value,
            intent.amount,
            intent.market_symbol,
            intent.client_order_id,
        )
        try:
            order = await exchange.create_order(
                intent.market_symbol,
                order_type,
                intent.side.value.lower(),
                float(intent.amount),
                price,
                self._order_params(intent),
            )
        except ccxt.BaseError as exc:
            return await self._create_failed(exchange, intent, inst, exc)
        crash_point(CRASH_AFTER_ACCEPT)
        try:
            return await self._follow(exchange, intent, inst, order)
        except _Unresolved as unresolved:
            reason = f"accepted; {unresolved}; resolved before the next order"
            stored = await self.intents.get(intent.client_order_id) or intent
            return _result_for(stored, inst, TxStatus.ERROR, reason, self._clock.now_ms())

    async def _create_failed(
        self, exchange: Any, intent: OrderIntent, inst: TradeInstruction, exc: ccxt.BaseError
    ) -> TxResult:
        detail = _describe(exc, exchange)
        if self._is_duplicate(exc):
            self._log(inst, "venue says client id %s exists: looking it up", intent.client_order_id)
            return await self._resolve_or_error(exchange, intent, inst, "duplicate client id")
        if isinstance(exc, ccxt.AuthenticationError):
            await self._settle(intent, IntentStatus.REJECTED, f"credentials rejected: {detail}")
            raise OperationalError(
                f"{self.venue.name} rejected the API credentials ({type(exc).__name__})"
            ) from None
        if isinstance(exc, _DEFINITE_REJECTIONS):
            reason = f"rejected by {self.venue.name}: {detail}"
            settled = await self._settle(intent, IntentStatus.REJECTED, reason)
            self._log(inst, "%s", reason)
            return _from_intent(settled, inst)
        self._log(inst, "outcome unknown after sending (%s): looking it up", type(exc).__name__)
        return await self._resolve_or_error(exchange, intent, inst, detail)

    async def _resolve_or_error(
        self, exchange: Any, intent: OrderIntent, inst: TradeInstruction, why: str
    ) -> TxResult:
        try:
            return await self._resolve(exchange, intent, inst, why)
        except _Unresolved as unresolved:
            reason = f"outcome unknown ({why}); {unresolved}; resolved before the next order"
            stored = await self.intents.get(intent.client_order_id) or intent
            return _result_for(stored, inst, TxStatus.ERROR, reason, self._clock.now_ms())

    async def _resume(self, exchange: Any, intent: OrderIntent, inst: TradeInstruction) -> TxResult:
        """An instruction already in the store: report it, or resolve it; never resend. Only ever
        as the very order the intent records: anything else raises ``IntentMismatch``."""
        mismatch = resume_mismatch(intent, self.strategy_id, inst)
        if mismatch is not None:
            logger.error("strategy_id=%s %s", self.strategy_id, mismatch)
            raise IntentMismatch(mismatch)
        if intent.status.final:
            return _from_intent(intent, inst)
        return await self._resolve_or_error(exchange, intent, inst, "resumed after a restart")

    # ------------------------------------------------------------------ resolving

    async def _resolve(
        self, exchange: Any, intent: OrderIntent, inst: TradeInstruction | None, why: str
    ) -> TxResult:
        """Find the order by client id (polling), follow it to a final state; or settle NOT_FOUND."""
        for poll in range(self.config.lookup_polls):
            order = await self._find(exchange, intent)
            if order is not None:
                return await self._follow(exchange, intent, inst, order)
            if poll + 1 < self.config.lookup_polls:
                await self._sleep(self._backoff(poll))
        reason = (
            f"not placed: outcome was unknown ({why}) and {self.config.lookup_polls} lookups by "
            f"client id {intent.client_order_id} found no order"
        )
        settled = await self._settle(intent, IntentStatus.NOT_FOUND, reason)
        logger.warning(
            "strategy_id=%s compose_id=%s %s", intent.strategy_id, intent.compose_id, reason
        )
        return _from_intent(settled, inst)

    async def _find(self, exchange: Any, intent: OrderIntent) -> dict[str, Any] | None:
        for call in self.venue.lookup:
            try:
                found = await self._read(
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
                raise _Unresolved(f"lookup failed: {_describe(exc, exchange)}") from None
            if found is not None:
                return found
        return None

    async def _follow(
        self,
        exchange: Any,
        intent: OrderIntent,
        inst: TradeInstruction | None,
        order: dict[str, Any],
    ) -> TxResult:
        order_id = str(order.get("id") or "") or None
        if order_id and intent.exchange_order_id != order_id:
            await self.intents.mark_sent(intent.client_order_id, order_id, self._clock.now_ms())
            intent = intent.model_copy(update={"exchange_order_id": order_id})
        for poll in range(self.config.fill_polls):
            if _is_final(order) or order_id is None:
                break
            await self._sleep(self._backoff(poll))
            order = await self._query(exchange, intent, order_id)
        if not _is_final(order):
            reason = f"accepted as {order_id}, not final after {self.config.fill_polls} queries"
            return _result_for(intent, inst, TxStatus.ERROR, reason, self._clock.now_ms())
        settlement = await self._settlement(exchange, intent, order)
        settled = await self.intents.settle(intent.client_order_id, settlement)
        _log_settled(settled)
        crash_point(CRASH_AFTER_FILL)
        return _from_intent(settled, inst)

    async def _query(self, exchange: Any, intent: OrderIntent, order_id: str) -> dict[str, Any]:
        try:
            return await self._read(
                exchange,
                "fetch_order",
                lambda: exchange.fetch_order(
                    order_id, intent.market_symbol, dict(self.venue.fetch_order_params)
                ),
            )
        except ccxt.BaseError as exc:
            raise _Unresolved(
                f"order {order_id} could not be read: {_describe(exc, exchange)}"
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
            trades = await self._read(
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

    async def _resolve_pending(self, exchange: Any) -> tuple[list[OrderIntent], list[OrderIntent]]:
        settled, unresolved = [], []
        for intent in await self.intents.list_intents(self.strategy_id, unresolved_only=True):
            try:
                await self._resolve(exchange, intent, None, "found unresolved")
            except _Unresolved as exc:
                logger.warning(
                    "strategy_id=%s intent %s still unresolved: %s",
                    self.strategy_id,
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

    # ------------------------------------------------------------------ venue settings and reads

    async def _prepare(self, exchange: Any, market_symbol: str, leverage: int) -> None:
        mode = self.config.margin_mode
        key = (market_symbol, leverage, mode)
        if key in self._prepared:
            return
        if self.venue.margin_mode_call == "set_margin_mode":
            await self._setting(
                exchange, "set_margin_mode", lambda: exchange.set_margin_mode(mode, market_symbol)
            )
        if self.venue.sets_leverage:
            params = {k: v.format(margin_mode=mode) for k, v in self.venue.leverage_params.items()}
            await self._setting(
                exchange,
                "set_leverage",
                lambda: exchange.set_leverage(leverage, market_symbol, params),
            )
        self._prepared.add(key)

    async def _setting(self, exchange: Any, what: str, call: Callable[[], Awaitable[Any]]) -> None:
        """An idempotent account setting: "already set" is success; a refusal refuses the order."""
        try:
            await self._read(exchange, what, call)
        except ccxt.NoChange:
            return
        except ccxt.AuthenticationError:
            raise OperationalError(
                f"{self.venue.name} rejected the API credentials ({what})"
            ) from None
        except ccxt.NetworkError as exc:
            raise TemporaryError(
                f"{self.venue.name}: {what} failed: {_describe(exc, exchange)}"
            ) from None
        except ccxt.BaseError as exc:
            detail = _describe(exc, exchange)
            if any(marker in str(exc) for marker in self.venue.no_change_markers):
                return
            raise _Refused(f"{what} refused by {self.venue.name}: {detail}") from None

    async def _ticker_price(self, exchange: Any, market_symbol: str) -> Decimal:
        try:
            with translate_ccxt_errors(self.venue.name, symbol=market_symbol, exchange=exchange):
                ticker = await self._read(
                    exchange, "fetch_ticker", lambda: exchange.fetch_ticker(market_symbol)
                )
        except ConfigError as exc:
            raise _Refused(str(exc)) from None
        price = ticker.get("last") or ticker.get("close")
        if not price:
            raise _Refused(f"no current price for {market_symbol}")
        return to_decimal(str(price))

    async def _read(self, exchange: Any, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, retried with exponential backoff on ``ccxt.NetworkError`` only."""
        attempts = self.config.read_attempts
        for attempt in range(attempts):
            try:
                return await call()
            except ccxt.NetworkError as exc:
                if attempt + 1 >= attempts:
                    raise
                slow = isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection)
                delay = self._backoff(attempt) * (4 if slow else 1)
                logger.warning(
                    "strategy_id=%s %s: %s failed (%s), retry %d/%d in %.2fs",
                    self.strategy_id,
                    self.venue.name,
                    what,
                    type(exc).__name__,
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                await self._sleep(delay)
        raise AssertionError("unreachable")

    async def _caps(self, inst: TradeInstruction) -> OrderCaps:
        cfg = self.config
        remaining = None
        if cfg.max_daily_traded_value is not None and not inst.reduce_only:
            now = self._clock.now_ms()
            traded = await self.intents.traded_value_since(self.strategy_id, now - now % DAY_MS)
            remaining = cfg.max_daily_traded_value - traded
        return OrderCaps(max_order_value=cfg.max_order_value, remaining_daily_value=remaining)

    async def _exchange(self) -> Any:
        with translate_ccxt_errors(self.venue.name):
            return await self._exchange_source()

    # ------------------------------------------------------------------ small helpers

    def _order_params(self, intent: OrderIntent) -> dict[str, Any]:
        params: dict[str, Any] = {self.venue.client_id_param: intent.client_order_id}
        if intent.reduce_only and self.venue.reduce_only_param:
            params[self.venue.reduce_only_param] = True
        if self.venue.margin_mode_call == "order_param":
            params[self.venue.margin_mode_param] = self.config.margin_mode
        if intent.order_type == "limit":
            params["timeInForce"] = "IOC"
        return params

    def _limit_price(self, price: Decimal, side: TradeSide, rules: MarketRules) -> Decimal | None:
        if self.config.order_type != "limit":
            return None
        return limit_price(
            price, self.config.max_slippage_bps, side is TradeSide.BUY, rules.price_step
        )

    def _market_symbol(self, symbol: str) -> str:
        return to_ccxt_symbol(symbol, perpetual=self.venue.perpetual)

    def _is_duplicate(self, exc: ccxt.BaseError) -> bool:
        text = str(exc)
        return isinstance(exc, ccxt.DuplicateOrderId) or any(
            marker in text for marker in self.venue.duplicate_client_id_markers
        )

    def _backoff(self, attempt: int) -> float:
        return min(self.config.backoff_s * (2**attempt), self.config.max_backoff_s)

    async def _settle(self, intent: OrderIntent, status: IntentStatus, reason: str) -> OrderIntent:
        return await self.intents.settle(
            intent.client_order_id,
            Settlement(status=status, reason=reason, ts=self._clock.now_ms()),
        )

    def _log(self, inst: TradeInstruction, message: str, *args: object) -> None:
        logger.info(
            "strategy_id=%s compose_id=%s " + message, self.strategy_id, inst.compose_id, *args
        )


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _lookup(exchange: Any, call: LookupCall, intent: OrderIntent) -> dict[str, Any] | None:
    params = {call.param: intent.client_order_id, **call.extra}
    method = getattr(exchange, call.method)
    if not call.returns_list:
        return await method(None, intent.market_symbol, params)
    orders = await method(intent.market_symbol, None, None, params)
    matches = [o for o in orders if o.get("clientOrderId") == intent.client_order_id]
    return matches[-1] if matches else None


def _blocked_reason(unresolved: list[OrderIntent]) -> str | None:
    if not unresolved:
        return None
    ids = ", ".join(i.client_order_id for i in unresolved[:3])
    return f"not sent: earlier orders still unresolved ({ids}); the venue could not be asked"


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


def _position_base(row: Mapping[str, Any], exchange: Any) -> Decimal:
    contracts = to_decimal(str(row.get("contracts") or 0))
    market = exchange.markets.get(row.get("symbol")) or {}
    size = to_decimal(str(row.get("contractSize") or market.get("contractSize") or 1))
    sign = Decimal(-1) if row.get("side") == "short" else Decimal(1)
    return sign * abs(contracts) * size


def _leverage(inst: TradeInstruction) -> int:
    return max(1, int(inst.leverage or 1))


def _describe(exc: BaseException, exchange: Any) -> str:
    text = f"{type(exc).__name__}: {exc}"
    for name in ("apiKey", "secret", "password", "uid"):
        value = getattr(exchange, name, None)
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text[:300]


def _opt_dec(value: float | None) -> Decimal | None:
    return to_decimal(value) if value is not None else None


def _result(
    inst: TradeInstruction, status: TxStatus, reason: str | None, ts: int, cid: str | None = None
) -> TxResult:
    return TxResult(
        instruction_id=inst.instruction_id,
        instrument=inst.instrument,
        side=inst.side,
        status=status,
        requested_qty=inst.quantity,
        filled_qty=0.0,
        leverage=inst.leverage,
        reason=reason,
        ts=ts,
        client_order_id=cid,
    )


def _result_for(
    intent: OrderIntent, inst: TradeInstruction | None, status: TxStatus, reason: str, ts: int
) -> TxResult:
    result = _from_intent(intent, inst)
    return result.model_copy(update={"status": status, "reason": reason, "ts": ts})


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
    return _from_intent(intent, inst)


def _from_intent(intent: OrderIntent, inst: TradeInstruction | None) -> TxResult:
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


__all__ = [
    "CCXTExecutionGateway",
    "ExchangeSource",
    "LiveOrderConfig",
    "tx_result_from_intent",
]
