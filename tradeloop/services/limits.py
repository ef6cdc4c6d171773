"""Per-principal limits: how many strategies a principal may keep, how much initial capital its
live strategies may hold together, and on which venues its strategies may trade. The operator sets
them (``tradeloop limits``, never a tool); they are rows in the database (``store.limits``), so
every replica on a shared PostgreSQL enforces the same, from the next call on.

Whose limits: a principal's own row, else the default row ``*``. The implicit owner (stdio,
loopback HTTP without a token) has only its own row: no limits unless the operator sets some.

What counts, read from the principal's strategies as they are stored:

- ``max_strategies``: every strategy it has not deleted, whatever its status: a stopped one keeps
  its name and history and can be started again, so only ``delete_strategy`` frees a place.
  Stored backtests (``run_backtest``'s stored runs) do not count.
- ``max_live_capital``: the ``initial_capital`` of its live strategies that are not stopped,
  summed exactly (Decimal): as for the live desk's account capital, a stopped strategy holds
  none. Paper strategies never count.
- ``allowed_venues``: the exchange (``exchange_config.exchange_id``) of a strategy, paper or live.

When: ``create`` is checked inside the transaction that stores the strategy (``admission``), so
two creates at once, on one replica or two, cannot both take the last place. ``start`` and
``resume`` check the strategy again (``check_start``), since the operator may have lowered the
limits or the strategy was stopped, before anything connects to a venue. Refusals are
``LimitExceeded`` (a ``ConfigError``: the tool answers with its message), naming the limit, its
value and the usage; nothing is stored or changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.backtest.store import BACKTEST_AGENT_KIND
from tradeloop.services.principals import OWNER_NAME
from tradeloop.store.limits import Admission, HeldStrategy, Holdings, LimitStore, PrincipalLimits
from tradeloop.store.strategies import StrategyRow
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import StrategyStatus as S
from tradeloop.trading.models import TradingMode, UserRequest
from tradeloop.trading.utils import to_decimal
from tradeloop.trading.venues import VENUES

KNOWN_VENUES = tuple(sorted({profile.exchange_id for profile in VENUES.values()}))
"""The venues an operator may allow (the exchanges of ``trading.venues``)."""


class LimitExceeded(ConfigError):
    """The principal's limits refuse the request; the message names the limit and the usage."""


def effective_limits(
    principal: str, own: PrincipalLimits | None, default: PrincipalLimits | None
) -> PrincipalLimits | None:
    """The limits ``principal`` is held to: its own row, else the default one (never for the
    implicit owner); None: no limits."""
    if own is not None or principal == OWNER_NAME:
        return own
    return default


@dataclass(frozen=True, slots=True)
class Usage:
    """What a principal holds, as its limits count it."""

    strategies: int
    live_capital: Decimal

    @classmethod
    def of(cls, held: Iterable[HeldStrategy]) -> Usage:
        counted = [h for h in held if h.agent_kind != BACKTEST_AGENT_KIND]
        capital = (live_capital(h.request) for h in counted if h.status is not S.STOPPED)
        return cls(strategies=len(counted), live_capital=sum(capital, Decimal(0)))


def admission(request: UserRequest) -> Admission:
    """What the store asks, inside the transaction that would store ``request``, before it does."""

    def admit(holdings: Holdings) -> None:
        check(held_to(holdings), Usage.of(holdings.strategies), request, action="create")

    return admit


async def check_create(limits: LimitStore, owner: str, request: UserRequest) -> None:
    """The venue and the count before anything connects to a venue (a live strategy's capital is
    known once the live desk sized it: ``admission`` then checks all three, atomically)."""
    holdings = await limits.holdings(owner)
    usage = Usage.of(holdings.strategies)
    check(held_to(holdings), usage, request, action="create", capital=False)


async def check_start(limits: LimitStore, row: StrategyRow, *, action: str) -> None:
    """Refuse to ``action`` (start or resume) ``row`` when the limits do not allow it now."""
    holdings = await limits.holdings(row.owner)
    others = Usage.of(h for h in holdings.strategies if h.id != row.id)
    check(held_to(holdings), others, row.request, action=action)


def held_to(holdings: Holdings) -> PrincipalLimits | None:
    return effective_limits(holdings.principal, holdings.own, holdings.default)


def live_capital(request: UserRequest) -> Decimal:
    """The capital a strategy puts on a venue: its initial capital when it trades live, else 0."""
    if request.exchange_config.trading_mode is not TradingMode.LIVE:
        return Decimal(0)
    return to_decimal(request.trading_config.initial_capital)


def check(
    limits: PrincipalLimits | None,
    others: Usage,
    request: UserRequest,
    *,
    action: str,
    capital: bool = True,
) -> None:
    """Refuse to ``action`` (create, start, resume) ``request`` for a principal holding ``others``
    besides it, when with it the principal would hold more than ``limits`` allow (``capital``
    False: all but ``max_live_capital``)."""
    if limits is None:
        return
    _check_venue(limits, request)
    most, held = limits.max_strategies, others.strategies + 1
    if most is not None and held > most:
        raise LimitExceeded(_too_many(most, held, action))
    asked, cap = live_capital(request), limits.max_live_capital
    if capital and asked and cap is not None and others.live_capital + asked > cap:
        raise LimitExceeded(
            f"limit max_live_capital {cap} would be exceeded: your other live strategies that are "
            f"not stopped hold {others.live_capital} of initial capital and this one "
            f"{asked} ({others.live_capital + asked} in all); stop or delete one first"
        )


def _too_many(most: int, held: int, action: str) -> str:
    rule = "stopped ones count, stored backtests do not"
    if action == "create":
        return (
            f"limit max_strategies {most} reached: you already have {_strategies(held - 1)} "
            f"({rule}; delete_strategy frees a place)"
        )
    return (
        f"limit max_strategies {most} exceeded: you have {_strategies(held)}, this one included "
        f"({rule}); delete {held - most} before you {action} one"
    )


def _check_venue(limits: PrincipalLimits, request: UserRequest) -> None:
    venue, allowed = request.exchange_config.exchange_id, limits.allowed_venues
    if allowed is not None and venue not in allowed:
        raise LimitExceeded(
            f"limit allowed_venues refuses exchange_id {venue!r}: allowed venues are "
            f"{', '.join(allowed) or 'none'}"
        )


def _strategies(count: int) -> str:
    return f"{count} strateg{'y' if count == 1 else 'ies'}"
