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

This module sends orders; finding out what became of one lives in ``ccxt_outcomes`` (lookup by
client id, following, settling), and the account reads with their retries in ``ccxt_reads``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import ccxt

from tradeloop.trading.clock import Clock
from tradeloop.trading.crashpoints import crash_point
from tradeloop.trading.data.exchanges import translate_ccxt_errors
from tradeloop.trading.errors import (
    ConfigError,
    IntentMismatch,
    OperationalError,
    TemporaryError,
)
from tradeloop.trading.execution.ccxt_outcomes import (
    OrderOutcomes,
    Unresolved,
    result_for,
    tx_result_from_intent,
)
from tradeloop.trading.execution.ccxt_reads import AccountReads, ExchangeSource, describe_error
from tradeloop.trading.execution.client_ids import OrderKey, client_order_id, order_keys
from tradeloop.trading.execution.intents import (
    IntentStatus,
    IntentStore,
    OrderIntent,
    resume_mismatch,
)
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.execution.live_config import LiveOrderConfig
from tradeloop.trading.execution.sizing import (
    Dropped,
    MarketRules,
    OrderCaps,
    limit_price,
    size_order,
)
from tradeloop.trading.models import (
    FeatureVector,
    TradeInstruction,
    TradeSide,
    TxResult,
    TxStatus,
)
from tradeloop.trading.portfolio.views import snapshot_prices
from tradeloop.trading.utils import to_decimal
from tradeloop.trading.venues import VenueProfile

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
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
        self.intents = intents
        self._clock = clock
        self.config = config or LiveOrderConfig()
        self._reads = AccountReads(
            strategy_id=strategy_id, venue=venue, exchange=exchange, config=self.config, sleep=sleep
        )
        self._outcomes = OrderOutcomes(reads=self._reads, intents=intents, clock=clock, sleep=sleep)
        self._lock = asyncio.Lock()
        self._prepared: set[tuple[str, int, str]] = set()

    # ------------------------------------------------------------------ public

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        async with self._lock:
            exchange = await self._reads.exchange()
            _, unresolved = await self._outcomes.resolve_pending(exchange)
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
            return await self._outcomes.resolve_pending(await self._reads.exchange())

    async def fetch_positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Signed base quantity per canonical symbol on the account (spot: total base balance).
        An unreachable venue raises ``TemporaryError``, rejected credentials ``OperationalError``."""
        return await self._reads.fetch_positions(symbols)

    async def fetch_cash(self, currency: str) -> tuple[Decimal, Decimal]:
        """(free, total) balance of ``currency`` on the account (errors as ``fetch_positions``)."""
        return await self._reads.fetch_cash(currency)

    async def market_rules(self, symbol: str) -> MarketRules:
        """The venue's rules for ``symbol`` (see ``AccountReads.market_rules``)."""
        return await self._reads.market_rules(symbol)

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
        market_symbol = self._reads.market_symbol(inst.instrument.symbol)
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
            return await self._outcomes.follow(exchange, intent, inst, order)
        except Unresolved as unresolved:
            reason = f"accepted; {unresolved}; resolved before the next order"
            stored = await self.intents.get(intent.client_order_id) or intent
            return result_for(stored, inst, TxStatus.ERROR, reason, self._clock.now_ms())

    async def _create_failed(
        self, exchange: Any, intent: OrderIntent, inst: TradeInstruction, exc: ccxt.BaseError
    ) -> TxResult:
        detail = describe_error(exc, exchange)
        if self._is_duplicate(exc):
            self._log(inst, "venue says client id %s exists: looking it up", intent.client_order_id)
            return await self._outcomes.resolve_or_error(
                exchange, intent, inst, "duplicate client id"
            )
        if isinstance(exc, ccxt.AuthenticationError):
            await self._outcomes.settle(
                intent, IntentStatus.REJECTED, f"credentials rejected: {detail}"
            )
            raise OperationalError(
                f"{self.venue.name} rejected the API credentials ({type(exc).__name__})"
            ) from None
        if isinstance(exc, _DEFINITE_REJECTIONS):
            reason = f"rejected by {self.venue.name}: {detail}"
            settled = await self._outcomes.settle(intent, IntentStatus.REJECTED, reason)
            self._log(inst, "%s", reason)
            return tx_result_from_intent(settled, inst)
        self._log(inst, "outcome unknown after sending (%s): looking it up", type(exc).__name__)
        return await self._outcomes.resolve_or_error(exchange, intent, inst, detail)

    async def _resume(self, exchange: Any, intent: OrderIntent, inst: TradeInstruction) -> TxResult:
        """An instruction already in the store: report it, or resolve it; never resend. Only ever
        as the very order the intent records: anything else raises ``IntentMismatch``."""
        mismatch = resume_mismatch(intent, self.strategy_id, inst)
        if mismatch is not None:
            logger.error("strategy_id=%s %s", self.strategy_id, mismatch)
            raise IntentMismatch(mismatch)
        if intent.status.final:
            return tx_result_from_intent(intent, inst)
        return await self._outcomes.resolve_or_error(
            exchange, intent, inst, "resumed after a restart"
        )

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
            await self._reads.read(exchange, what, call)
        except ccxt.NoChange:
            return
        except ccxt.AuthenticationError:
            raise OperationalError(
                f"{self.venue.name} rejected the API credentials ({what})"
            ) from None
        except ccxt.NetworkError as exc:
            raise TemporaryError(
                f"{self.venue.name}: {what} failed: {describe_error(exc, exchange)}"
            ) from None
        except ccxt.BaseError as exc:
            detail = describe_error(exc, exchange)
            if any(marker in str(exc) for marker in self.venue.no_change_markers):
                return
            raise _Refused(f"{what} refused by {self.venue.name}: {detail}") from None

    async def _ticker_price(self, exchange: Any, market_symbol: str) -> Decimal:
        try:
            with translate_ccxt_errors(self.venue.name, symbol=market_symbol, exchange=exchange):
                ticker = await self._reads.read(
                    exchange, "fetch_ticker", lambda: exchange.fetch_ticker(market_symbol)
                )
        except ConfigError as exc:
            raise _Refused(str(exc)) from None
        price = ticker.get("last") or ticker.get("close")
        if not price:
            raise _Refused(f"no current price for {market_symbol}")
        return to_decimal(str(price))

    async def _caps(self, inst: TradeInstruction) -> OrderCaps:
        cfg = self.config
        remaining = None
        if cfg.max_daily_traded_value is not None and not inst.reduce_only:
            now = self._clock.now_ms()
            traded = await self.intents.traded_value_since(self.strategy_id, now - now % DAY_MS)
            remaining = cfg.max_daily_traded_value - traded
        return OrderCaps(max_order_value=cfg.max_order_value, remaining_daily_value=remaining)

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

    def _is_duplicate(self, exc: ccxt.BaseError) -> bool:
        text = str(exc)
        return isinstance(exc, ccxt.DuplicateOrderId) or any(
            marker in text for marker in self.venue.duplicate_client_id_markers
        )

    def _log(self, inst: TradeInstruction, message: str, *args: object) -> None:
        logger.info(
            "strategy_id=%s compose_id=%s " + message, self.strategy_id, inst.compose_id, *args
        )


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _blocked_reason(unresolved: list[OrderIntent]) -> str | None:
    if not unresolved:
        return None
    ids = ", ".join(i.client_order_id for i in unresolved[:3])
    return f"not sent: earlier orders still unresolved ({ids}); the venue could not be asked"


def _leverage(inst: TradeInstruction) -> int:
    return max(1, int(inst.leverage or 1))


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


__all__ = [
    "CCXTExecutionGateway",
    "ExchangeSource",
    "LiveOrderConfig",
    "tx_result_from_intent",
]
