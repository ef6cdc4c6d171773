"""Per-principal limits: how many strategies a principal may keep, how much initial capital its
live strategies may hold together, and on which venues its strategies may trade. The operator sets
them (``tradeloop limits``, never a tool); they are rows in the database (``store.limits``), so
every replica on a shared PostgreSQL enforces the same.

Whose limits: a principal's own row, else the default row ``*``. The implicit owner (stdio,
loopback HTTP without a token) has only its own row: no limits unless the operator sets some.

What counts, read from the principal's strategies as they are stored:

- ``max_strategies``: every strategy it has not deleted, whatever its status: a stopped one keeps
  its name and history and can be started again, so only ``delete_strategy`` frees a place.
  Stored backtests (``run_backtest``'s stored runs) do not count.
- ``max_live_capital``: the ``initial_capital`` of those of them that trade live, stopped ones
  included for the same reason, summed exactly (Decimal); paper strategies never count.
- ``allowed_venues``: the exchange (``exchange_config.exchange_id``) of a strategy, paper or live.

When: creating a strategy is checked inside the transaction that stores it, so two creates at
once cannot both take the last place. Starting and resuming check the strategy against the limits
as they are then (the operator may have lowered them since it was created); starting changes no
count, so there is nothing for two starts to race over. Refusals are ``LimitExceeded`` (a
``ConfigError``: the tool answers with its message), naming the limit, its value and the usage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.backtest.store import BACKTEST_AGENT_KIND
from tradeloop.services.principals import OWNER_NAME
from tradeloop.store.limits import Admission, HeldStrategy, Holdings, LimitStore, PrincipalLimits
from tradeloop.trading.errors import ConfigError
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
    def of(cls, rows: Iterable[HeldStrategy]) -> Usage:
        counted = [row.request for row in rows if row.agent_kind != BACKTEST_AGENT_KIND]
        live = sum((live_capital(request) for request in counted), Decimal(0))
        return cls(strategies=len(counted), live_capital=live)


def admission(request: UserRequest) -> Admission:
    """What the store asks, inside the transaction that would store ``request``, before it does."""

    def admit(holdings: Holdings) -> None:
        check_new(held_to(holdings), Usage.of(holdings.strategies), request)

    return admit


async def check_start(limits: LimitStore, owner: str, request: UserRequest) -> None:
    """Refuse starting or resuming ``owner``'s strategy ``request`` beyond the limits now."""
    holdings = await limits.holdings(owner)
    check_held(held_to(holdings), Usage.of(holdings.strategies), request)


def held_to(holdings: Holdings) -> PrincipalLimits | None:
    return effective_limits(holdings.principal, holdings.own, holdings.default)


def live_capital(request: UserRequest) -> Decimal:
    """The capital a strategy puts on a venue: its initial capital when it trades live, else 0."""
    if request.exchange_config.trading_mode is not TradingMode.LIVE:
        return Decimal(0)
    return to_decimal(request.trading_config.initial_capital)


def check_new(limits: PrincipalLimits | None, usage: Usage, request: UserRequest) -> None:
    """Refuse creating ``request`` for a principal holding ``usage`` (the new one excluded)."""
    if limits is None:
        return
    _check_venue(limits, request)
    if limits.max_strategies is not None and usage.strategies + 1 > limits.max_strategies:
        raise LimitExceeded(
            f"limit max_strategies {limits.max_strategies} reached: you already have "
            f"{_strategies(usage.strategies)} (stopped ones count, stored backtests do not; "
            "delete_strategy frees a place)"
        )
    capital = live_capital(request)
    cap = limits.max_live_capital
    if capital and cap is not None and usage.live_capital + capital > cap:
        raise LimitExceeded(
            f"limit max_live_capital {cap} would be exceeded: your live strategies already hold "
            f"{usage.live_capital} of initial capital and this one asks for {capital} "
            f"({usage.live_capital + capital} in all)"
        )


def check_held(limits: PrincipalLimits | None, usage: Usage, request: UserRequest) -> None:
    """Refuse starting or resuming ``request``, already part of ``usage``, when the limits as
    they are now do not allow what the principal holds (the operator lowered them)."""
    if limits is None:
        return
    _check_venue(limits, request)
    most = limits.max_strategies
    if most is not None and usage.strategies > most:
        raise LimitExceeded(
            f"limit max_strategies {most} exceeded: you have {_strategies(usage.strategies)} "
            "(stopped ones count, stored backtests do not); delete "
            f"{usage.strategies - most} before starting or resuming one"
        )
    cap = limits.max_live_capital
    if live_capital(request) and cap is not None and usage.live_capital > cap:
        raise LimitExceeded(
            f"limit max_live_capital {cap} exceeded: your live strategies hold "
            f"{usage.live_capital} of initial capital, this one included; delete stopped ones "
            "before starting or resuming a live strategy"
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
