"""What the per-principal limits count and refuse, as pure decisions over stored rows: each limit
passes exactly at its value and refuses one over, naming the limit, its value and the usage."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.services.helpers import live_request, perpetual_request, replay_request
from tradeloop.services.limits import (
    LimitExceeded,
    Usage,
    check_held,
    check_new,
    effective_limits,
)
from tradeloop.store.limits import HeldStrategy, PrincipalLimits
from tradeloop.trading.models import ExchangeConfig, TradingMode, UserRequest


def live(capital: float) -> UserRequest:
    request = live_request(initial_capital=capital)
    exchange = ExchangeConfig(trading_mode=TradingMode.LIVE)
    return request.model_copy(update={"exchange_config": exchange})


def row(request: UserRequest, *, kind: str = "default") -> HeldStrategy:
    return HeldStrategy(agent_kind=kind, request=request)


def test_strategies_count_and_stored_backtests_do_not() -> None:
    rows = [row(replay_request()), row(replay_request()), row(replay_request(), kind="backtest")]
    assert Usage.of(rows).strategies == 2


def test_live_capital_sums_the_initial_capital_of_live_strategies_exactly() -> None:
    rows = [row(live(0.1)), row(live(0.2)), row(replay_request())]
    assert Usage.of(rows).live_capital == Decimal("0.3")


def test_creating_up_to_max_strategies_passes_and_one_more_is_refused() -> None:
    limits = PrincipalLimits("alice", max_strategies=2)
    check_new(limits, Usage(1, Decimal(0)), replay_request())
    with pytest.raises(LimitExceeded) as refused:
        check_new(limits, Usage(2, Decimal(0)), replay_request())
    assert "limit max_strategies 2 reached: you already have 2 strategies" in str(refused.value)


def test_live_capital_exactly_at_the_limit_passes_and_a_cent_over_is_refused() -> None:
    limits = PrincipalLimits("alice", max_live_capital=Decimal("1000"))
    check_new(limits, Usage(1, Decimal("600")), live(400))
    with pytest.raises(LimitExceeded) as refused:
        check_new(limits, Usage(1, Decimal("600.01")), live(400))
    assert str(refused.value) == (
        "limit max_live_capital 1000 would be exceeded: your live strategies already hold "
        "600.01 of initial capital and this one asks for 400.0 (1000.01 in all)"
    )


def test_paper_strategies_are_never_held_to_the_live_capital_limit() -> None:
    check_new(PrincipalLimits("alice", max_live_capital=Decimal(0)), Usage(0, Decimal(0)),
              replay_request())  # fmt: skip


def test_a_venue_outside_allowed_venues_is_refused_paper_or_live() -> None:
    limits = PrincipalLimits("alice", allowed_venues=("binance",))
    check_new(limits, Usage(0, Decimal(0)), replay_request())
    with pytest.raises(LimitExceeded) as refused:
        check_new(limits, Usage(0, Decimal(0)), perpetual_request())
    assert str(refused.value) == (
        "limit allowed_venues refuses exchange_id 'bybit': allowed venues are binance"
    )


def test_starting_checks_what_is_held_against_limits_lowered_since() -> None:
    limits = PrincipalLimits("alice", max_strategies=2, max_live_capital=Decimal(500))
    check_held(limits, Usage(2, Decimal(500)), live(500))
    with pytest.raises(LimitExceeded, match="limit max_strategies 2 exceeded: you have 3"):
        check_held(limits, Usage(3, Decimal(500)), live(500))
    with pytest.raises(LimitExceeded, match="limit max_live_capital 500 exceeded"):
        check_held(limits, Usage(2, Decimal(501)), live(500))
    check_held(limits, Usage(2, Decimal(501)), replay_request())  # a paper one may start


def test_the_default_applies_to_principals_without_their_own_but_not_the_implicit_owner() -> None:
    default, own = PrincipalLimits("*", max_strategies=1), PrincipalLimits("bob")
    assert effective_limits("alice", None, default) == default
    assert effective_limits("bob", own, default) == own
    assert effective_limits("~owner", None, default) is None
    assert effective_limits("alice", None, None) is None
