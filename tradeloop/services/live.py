"""Live trading around ``CCXTExecutionGateway``: open it through the gate, size the capital from
the real balance, reconcile on start, and close only the strategy's own positions on stop.

How the strategy service uses it (every step raises rather than trading on a wrong picture)::

    approval = gate.redeem(token, "start", live_params("start", request, strategy_id))
    gateway = open_live_gateway(gate, approval, "start", request, strategy_id=sid, intents=...)
    request = await with_live_capital(gateway, request)             # create: initial capital
    constraints = await market_constraints(gateway, request)        # the guardrails' market rules
    report = await reconcile(gateway, symbols=..., stored_positions=..., apply_fills=...,
                             others_on_account=await others_on_account(intents, account, sid))
    if report.pause_reason: pause the strategy with report.pause_reason
    ...
    results = await close_own_positions(gateway, own_positions, compose_id=f"stop_{sid}_{n}")

Strategies on one venue account share an ``asyncio.Lock`` (``LiveLink.lock``): their orders go out
one batch at a time (``SharedAccountGateway``) and never while the account is reconciled, so a
reconciliation sees every other strategy's orders settled.

Nothing here imports ccxt at module level: the server can import this module for free.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradeloop.credentials import load_credentials
from tradeloop.services.live_gate import Action, LiveApproval, LiveGate, live_params
from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.data.exchanges import ExchangeKey, get_exchange
from tradeloop.trading.errors import ConfigError, OperationalError
from tradeloop.trading.execution.intents import (
    IntentStatus,
    IntentStore,
    OrderIntent,
    positions_from_intents,
)
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.models import (
    Constraints,
    FeatureVector,
    InstrumentRef,
    MarketType,
    TradeAction,
    TradeInstruction,
    TradeSide,
    TradingMode,
    TxResult,
    TxStatus,
    UserRequest,
)
from tradeloop.trading.portfolio.views import constraints_for
from tradeloop.trading.utils import to_decimal
from tradeloop.trading.venues import venue_profile

if TYPE_CHECKING:
    from tradeloop.trading.execution.ccxt_trading import CCXTExecutionGateway

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
DEFAULT_TOLERANCE = Decimal("1e-9")
StoredPositions = Callable[[], Awaitable[Mapping[str, Decimal]]]
ApplyFills = Callable[[list[TxResult]], Awaitable[None]]


# ---------------------------------------------------------------------------------- opening


def open_live_gateway(
    gate: LiveGate,
    approval: LiveApproval,
    action: Action,
    request: UserRequest,
    *,
    intents: IntentStore,
    strategy_id: str,
    approval_strategy_id: str | None = None,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    **config_overrides: Any,
) -> CCXTExecutionGateway:
    """The live gateway for ``request``, only with an approval of this gate for this request.

    ``approval_strategy_id`` is the strategy id the approval was bound to (``start``); ``create``
    approvals bind the request alone. Credentials are looked up by
    ``exchange_config.credentials_name`` (see ``tradeloop.credentials``); a request that carries
    an API key or secret itself is refused. No network traffic happens here.
    """
    gate.check(approval, action, live_params(action, request, approval_strategy_id))
    ex = request.exchange_config
    if ex.trading_mode is not TradingMode.LIVE:
        raise ConfigError("exchange_config.trading_mode must be 'live' for the live gateway")
    if ex.api_key is not None or ex.secret_key is not None or ex.passphrase is not None:
        raise ConfigError(
            "exchange_config must not carry API keys; name them with credentials_name and put "
            "them in the server's environment or credentials file"
        )
    if not ex.credentials_name:
        raise ConfigError("live trading needs exchange_config.credentials_name")
    # lazy: ccxt_trading imports ccxt (seconds at start-up); a paper-only server never needs it
    from tradeloop.trading.execution.ccxt_trading import CCXTExecutionGateway, LiveOrderConfig

    profile = venue_profile(ex.exchange_id, ex.market_type)
    creds = load_credentials(ex.credentials_name, environ)
    key = ExchangeKey(ex.exchange_id, ex.market_type, ex.testnet, account=ex.credentials_name)

    async def exchange() -> Any:
        return await get_exchange(key, creds.ccxt_config())

    logger.info(
        "strategy_id=%s live gateway on %s (%s approval)", strategy_id, key.venue, approval.how
    )
    return CCXTExecutionGateway(
        strategy_id=strategy_id,
        account=account_of(request),
        venue=profile,
        exchange=exchange,
        intents=intents,
        clock=clock or SystemClock(),
        config=LiveOrderConfig.from_request(request, **config_overrides),
    )


def account_of(request: UserRequest) -> str:
    """The venue account a live request trades on (see ``account_name``)."""
    ex = request.exchange_config
    return account_name(ex.exchange_id, ex.market_type, ex.testnet, ex.credentials_name or "")


def account_name(exchange_id: str, market_type: MarketType, testnet: bool, credentials: str) -> str:
    """How intents name the venue account: strategies with the same name share positions."""
    return f"{exchange_id}:{MarketType(market_type).value}:{'testnet' if testnet else 'live'}:{credentials}"


# ---------------------------------------------------------------------------------- capital


def quote_currency(request: UserRequest) -> str:
    quotes = {symbol.split("-")[1] for symbol in request.trading_config.symbols}
    if len(quotes) != 1:
        raise ConfigError(f"live symbols must share one quote currency, got {sorted(quotes)}")
    return quotes.pop()


async def live_initial_capital(gateway: CCXTExecutionGateway, request: UserRequest) -> Decimal:
    """The account's available (free) balance of the symbols' quote currency."""
    currency = quote_currency(request)
    free, _ = await gateway.fetch_cash(currency)
    if free <= 0:
        raise ConfigError(f"the {gateway.venue.name} account has no available {currency}")
    return free


async def with_live_capital(
    gateway: CCXTExecutionGateway,
    request: UserRequest,
    reserved: Decimal = Decimal(0),
    holders: Sequence[str] = (),
) -> UserRequest:
    """``request`` with ``initial_capital`` capped by the available cash: the asked capital, or
    less when the account's free balance of the quote currency, less ``reserved`` (the cash of
    the other live strategies on the account, ``holders``, which the free balance still counts
    but which those strategies will spend), is smaller."""
    free = await live_initial_capital(gateway, request)
    available = free - reserved
    if available <= 0:
        currency = quote_currency(request)
        raise ConfigError(
            f"the {gateway.venue.name} account's available {currency} ({free}) is already the "
            f"capital of live strategies {', '.join(holders)} (their cash: {reserved}); stop one "
            "of them, or trade this strategy on another account"
        )
    asked = to_decimal(request.trading_config.initial_capital)
    capital = min(asked, available)
    if capital < asked:
        logger.warning(
            "live initial_capital %s capped to the %s available on %s",
            asked,
            available,
            gateway.venue.name,
        )
    config = request.trading_config.model_copy(update={"initial_capital": float(capital)})
    return request.model_copy(update={"trading_config": config})


async def market_constraints(gateway: CCXTExecutionGateway, request: UserRequest) -> Constraints:
    """The request's constraints plus the venue's market rules, in base units, for the guardrails.

    ``Constraints`` hold one value per portfolio: the quantity step and minimum quantity are set
    when every symbol shares them (base units differ wildly between coins), the minimum order
    value (quote currency) is the largest. The gateway still sizes each order for its own market.
    Raises ``ConfigError`` for a symbol the venue does not list.
    """
    rules = [await gateway.market_rules(symbol) for symbol in request.trading_config.symbols]
    steps = {r.base_step for r in rules}
    minimums = {r.base_min_amount for r in rules}
    costs = [r.min_cost for r in rules if r.min_cost]
    return constraints_for(request).model_copy(
        update={
            "quantity_step": _shared(steps),
            "min_trade_qty": _shared(minimums),
            "min_notional": float(max(costs)) if costs else None,
        }
    )


def _shared(values: set[Decimal | None]) -> float | None:
    if len(values) != 1:
        return None
    value = next(iter(values))
    return float(value) if value else None


# ---------------------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class PositionMismatch:
    symbol: str
    stored: Decimal
    """What tradeloop's strategies on this account believe (this one plus ``others``)."""
    exchange: Decimal

    def describe(self) -> str:
        return f"{self.symbol}: stored {self.stored}, exchange {self.exchange}"


@dataclass(frozen=True)
class ReconcileReport:
    strategy_id: str
    settled: list[OrderIntent] = field(default_factory=list)
    """Intents whose outcome was unknown and is now settled."""
    handed_over: list[OrderIntent] = field(default_factory=list)
    """Filled intents no portfolio had taken (settled now, or their cycle was never committed),
    handed to ``apply_fills`` before the positions were compared."""
    unresolved: list[OrderIntent] = field(default_factory=list)
    """Intents the venue could not be asked about: nothing trades until they are settled."""
    stored_positions: dict[str, Decimal] = field(default_factory=dict)
    exchange_positions: dict[str, Decimal] = field(default_factory=dict)
    mismatches: list[PositionMismatch] = field(default_factory=list)
    free_cash: Decimal | None = None
    others: dict[str, Decimal] = field(default_factory=dict)
    """What the other tradeloop strategies on the account hold (``others_on_account``)."""

    def outside(self, symbol: str) -> Decimal:
        """What the venue holds of ``symbol`` beyond every tradeloop strategy (a human's)."""
        return (
            self.exchange_positions.get(symbol, ZERO)
            - self.others.get(symbol, ZERO)
            - self.stored_positions.get(symbol, ZERO)
        )

    @property
    def ok(self) -> bool:
        return not self.unresolved and not self.mismatches

    @property
    def pause_reason(self) -> str | None:
        """Why the strategy must pause, in words for the operator (None when all is well)."""
        if self.unresolved:
            ids = ", ".join(i.client_order_id for i in self.unresolved[:5])
            return f"live reconciliation: {len(self.unresolved)} order(s) with unknown outcome ({ids}); the venue could not be asked"
        if self.mismatches:
            detail = "; ".join(m.describe() for m in self.mismatches)
            return f"live reconciliation: stored positions differ from the exchange ({detail}); paused rather than trading on a wrong picture"
        return None


async def reconcile(
    gateway: CCXTExecutionGateway,
    *,
    symbols: Sequence[str],
    stored_positions: StoredPositions,
    apply_fills: ApplyFills | None = None,
    others_on_account: Mapping[str, Decimal] | None = None,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> ReconcileReport:
    """Settle every unresolved intent, then compare stored and exchange positions.

    ``apply_fills`` receives the fills no portfolio has taken yet (intents settled now, and filled
    intents whose cycle was never committed: ``IntentStore.unapplied_fills``), in order; it must
    apply them, and mark them applied, before ``stored_positions`` is read. ``others_on_account``
    are the positions of the other tradeloop strategies on the same account: the exchange must
    hold the sum. Perpetuals must match exactly; on spot the account may hold more of a coin than
    the strategies (other holdings), never less.
    """
    settled, unresolved = await gateway.resolve_pending()
    handed_over: list[OrderIntent] = []
    if apply_fills is not None:
        handed_over = await gateway.intents.unapplied_fills(gateway.strategy_id)
        if handed_over:
            await apply_fills([fill_of(i) for i in handed_over])
    stored = {s: q for s, q in (await stored_positions()).items() if q != 0}
    exchange = await gateway.fetch_positions(list(symbols))
    free, _ = await gateway.fetch_cash(_quote_of(symbols))
    mismatches = compare_positions(
        stored,
        exchange,
        others_on_account or {},
        spot=not gateway.venue.perpetual,
        tolerance=tolerance,
    )
    report = ReconcileReport(
        strategy_id=gateway.strategy_id,
        settled=settled,
        handed_over=handed_over,
        unresolved=unresolved,
        stored_positions=stored,
        exchange_positions={s: q for s, q in exchange.items() if q != 0},
        mismatches=mismatches,
        free_cash=free,
        others=dict(others_on_account or {}),
    )
    _log_report(report)
    return report


def compare_positions(
    stored: Mapping[str, Decimal],
    exchange: Mapping[str, Decimal],
    others: Mapping[str, Decimal],
    *,
    spot: bool,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> list[PositionMismatch]:
    """Symbols where the exchange does not hold what the strategies believe. Pure."""
    mismatches = []
    for symbol in sorted(set(stored) | set(exchange)):
        expected = stored.get(symbol, ZERO) + others.get(symbol, ZERO)
        actual = exchange.get(symbol, ZERO)
        if spot:
            bad = actual < expected - tolerance
        else:
            bad = abs(actual - expected) > tolerance
        if bad:
            mismatches.append(PositionMismatch(symbol, expected, actual))
    return mismatches


async def intent_positions(intents: IntentStore, strategy_id: str) -> dict[str, Decimal]:
    """A strategy's own positions as its settled intents add them up."""
    return positions_from_intents(await intents.list_intents(strategy_id))


async def others_on_account(
    intents: IntentStore, account: str, strategy_id: str
) -> dict[str, Decimal]:
    """What the other tradeloop strategies on ``account`` hold, as their settled intents add up.

    Intents rather than ledgers: a fill is in its intent as soon as the venue reports it, before
    the other strategy's cycle commits; and intents outlive a deleted strategy, like its positions.
    """
    others = [
        i
        for i in await intents.list_intents()
        if i.account == account and i.strategy_id != strategy_id
    ]
    return positions_from_intents(others)


def fill_of(intent: OrderIntent) -> TxResult:
    # lazy: ccxt_trading imports ccxt (seconds at start-up); a paper-only server never needs it
    from tradeloop.trading.execution.ccxt_trading import tx_result_from_intent

    return tx_result_from_intent(intent)


def _quote_of(symbols: Sequence[str]) -> str:
    quotes = {s.split("-")[1] for s in symbols}
    return sorted(quotes)[0] if quotes else "USDT"


def _log_report(report: ReconcileReport) -> None:
    if report.ok:
        logger.info(
            "strategy_id=%s live reconciliation ok: %d settled, %d fill(s) handed over, "
            "positions %s",
            report.strategy_id,
            len(report.settled),
            len(report.handed_over),
            report.stored_positions,
        )
    else:
        logger.warning("strategy_id=%s %s", report.strategy_id, report.pause_reason)


# ---------------------------------------------------------------------------------- the service's link


@dataclass(frozen=True)
class LiveLink:
    """A live strategy's connection to its venue account, as the strategy service holds it."""

    gateway: CCXTExecutionGateway
    lock: asyncio.Lock
    """Shared by every strategy on the same account (``gateway.account``)."""


class SharedAccountGateway(BaseExecutionGateway):
    """The gateway a live strategy's cycles use: its account's orders go out one batch at a time,
    never while the account is being reconciled."""

    def __init__(self, link: LiveLink) -> None:
        self.link = link

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        async with self.link.lock:
            return await self.link.gateway.execute(instructions, market_features)

    async def close(self) -> None:
        await self.link.gateway.close()


class NotStartedGateway(BaseExecutionGateway):
    """Stands in for the venue while a live strategy is loaded without being started (preview,
    digest): it refuses to execute anything."""

    def __init__(self, strategy_id: str) -> None:
        self.strategy_id = strategy_id

    async def execute(
        self,
        instructions: list[TradeInstruction],
        market_features: list[FeatureVector] | None = None,
    ) -> list[TxResult]:
        raise OperationalError(
            f"live strategy {self.strategy_id} is not started: start it (with confirmation) first"
        )


# ---------------------------------------------------------------------------------- stop


async def close_own_positions(
    gateway: CCXTExecutionGateway, own: Mapping[str, Decimal], *, compose_id: str
) -> list[TxResult]:
    """Reduce-only closes of exactly this strategy's ``own`` positions, never more.

    Each close is capped by what the exchange holds on the same side, so a position another
    strategy (or a human) holds on the account is never touched, and nothing ever flips. A
    symbol whose exchange position is on the other side or absent is reported, not traded.
    """
    wanted = {s: q for s, q in own.items() if q != 0}
    if not wanted:
        return []
    held = await gateway.fetch_positions(sorted(wanted))
    instructions: list[TradeInstruction] = []
    skipped: list[TxResult] = []
    for symbol in sorted(wanted):
        inst = _close_instruction(compose_id, symbol, wanted[symbol], held.get(symbol, ZERO))
        if inst is None:
            skipped.append(_not_closed(compose_id, symbol, wanted[symbol], held.get(symbol, ZERO)))
        else:
            instructions.append(inst)
    results = await gateway.execute(instructions) if instructions else []
    return results + skipped


def _close_instruction(
    compose_id: str, symbol: str, own: Decimal, held: Decimal
) -> TradeInstruction | None:
    same_side = held != 0 and (held > 0) == (own > 0)
    quantity = min(abs(own), abs(held)) if same_side else ZERO
    if quantity <= 0:
        return None
    long = own > 0
    return TradeInstruction(
        instruction_id=f"{compose_id}:close:{symbol}",
        compose_id=compose_id,
        instrument=InstrumentRef(symbol=symbol),
        side=TradeSide.SELL if long else TradeSide.BUY,
        quantity=float(quantity),
        action=TradeAction.CLOSE_LONG if long else TradeAction.CLOSE_SHORT,
    )


def _not_closed(compose_id: str, symbol: str, own: Decimal, held: Decimal) -> TxResult:
    return TxResult(
        instruction_id=f"{compose_id}:{symbol}",
        instrument=InstrumentRef(symbol=symbol),
        side=TradeSide.SELL if own > 0 else TradeSide.BUY,
        status=TxStatus.REJECTED,
        requested_qty=float(abs(own)),
        filled_qty=0.0,
        reason=f"not closed: the strategy holds {own} but the exchange holds {held} on that side",
    )


__all__ = [
    "IntentStatus",
    "LiveLink",
    "NotStartedGateway",
    "PositionMismatch",
    "ReconcileReport",
    "SharedAccountGateway",
    "account_name",
    "account_of",
    "close_own_positions",
    "compare_positions",
    "intent_positions",
    "live_initial_capital",
    "market_constraints",
    "open_live_gateway",
    "others_on_account",
    "quote_currency",
    "reconcile",
    "with_live_capital",
]
