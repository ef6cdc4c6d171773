"""What the per-principal limits count and refuse, as pure decisions over stored rows: each limit
passes exactly at its value and refuses one over, naming the limit, its value and the usage."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.services.helpers import live_request, perpetual_request, replay_request
from tradeloop.services.limits import LimitExceeded, Usage, check, effective_limits
from tradeloop.store.limits import HeldStrategy, PrincipalLimits
from tradeloop.trading.models import ExchangeConfig, StrategyStatus, TradingMode, UserRequest

NOTHING = Usage(0, Decimal(0))


def live(capital: float) -> UserRequest:
    request = live_request(initial_capital=capital)
    exchange = ExchangeConfig(trading_mode=TradingMode.LIVE)
    return request.model_copy(update={"exchange_config": exchange})


def held(request: UserRequest, status: str = "created", kind: str = "default") -> HeldStrategy:
    return HeldStrategy("s_1", kind, StrategyStatus(status), request)


def test_strategies_of_every_status_count_and_stored_backtests_do_not() -> None:
    rows = [
        held(replay_request(), "stopped"),
        held(replay_request(), "error"),
        held(replay_request(), "stopped", kind="backtest"),
    ]
    assert Usage.of(rows).strategies == 2


def test_live_capital_sums_live_strategies_not_stopped_exactly() -> None:
    rows = [
        held(live(0.1), "running"),
        held(live(0.2), "paused"),
        held(live(100), "stopped"),
        held(replay_request(), "running"),
    ]
    assert Usage.of(rows).live_capital == Decimal("0.3")


def test_creating_up_to_max_strategies_passes_and_one_more_is_refused() -> None:
    limits = PrincipalLimits("alice", max_strategies=2)
    check(limits, Usage(1, Decimal(0)), replay_request(), action="create")
    with pytest.raises(LimitExceeded) as refused:
        check(limits, Usage(2, Decimal(0)), replay_request(), action="create")
    assert str(refused.value) == (
        "limit max_strategies 2 reached: you already have 2 strategies (stopped ones count, "
        "stored backtests do not; delete_strategy frees a place)"
    )


def test_live_capital_exactly_at_the_limit_passes_and_a_cent_over_is_refused() -> None:
    limits = PrincipalLimits("alice", max_live_capital=Decimal("1000"))
    check(limits, Usage(1, Decimal("600")), live(400), action="create")
    with pytest.raises(LimitExceeded) as refused:
        check(limits, Usage(1, Decimal("600.01")), live(400), action="create")
    assert str(refused.value) == (
        "limit max_live_capital 1000 would be exceeded: your other live strategies that are not "
        "stopped hold 600.01 of initial capital and this one 400.0 (1000.01 in all); stop or "
        "delete one first"
    )


def test_paper_strategies_are_never_held_to_the_live_capital_limit() -> None:
    limits = PrincipalLimits("alice", max_live_capital=Decimal(0))
    check(limits, Usage(0, Decimal(5)), replay_request(), action="create")
    with pytest.raises(LimitExceeded, match="limit max_live_capital 0 would be exceeded"):
        check(limits, NOTHING, live(0.01), action="create")


def test_a_venue_outside_allowed_venues_is_refused_paper_or_live() -> None:
    limits = PrincipalLimits("alice", allowed_venues=("binance",))
    check(limits, NOTHING, replay_request(), action="create")
    with pytest.raises(LimitExceeded) as refused:
        check(limits, NOTHING, perpetual_request(), action="create")
    assert str(refused.value) == (
        "limit allowed_venues refuses exchange_id 'bybit': allowed venues are binance"
    )


def test_starting_counts_the_strategy_itself_against_limits_lowered_since() -> None:
    limits = PrincipalLimits("alice", max_strategies=2)
    check(limits, Usage(1, Decimal(0)), replay_request(), action="start")
    with pytest.raises(LimitExceeded) as refused:
        check(limits, Usage(3, Decimal(0)), replay_request(), action="resume")
    assert str(refused.value) == (
        "limit max_strategies 2 exceeded: you have 4 strategies, this one included (stopped ones "
        "count, stored backtests do not); delete 2 before you resume one"
    )


def test_no_limits_refuse_nothing() -> None:
    check(None, Usage(10**6, Decimal(10**12)), live(10**9), action="create")
    check(PrincipalLimits("alice"), Usage(10**6, Decimal(10**12)), live(10**9), action="create")


def test_the_default_applies_to_principals_without_their_own_but_not_the_implicit_owner() -> None:
    default, own = PrincipalLimits("*", max_strategies=1), PrincipalLimits("bob")
    assert effective_limits("alice", None, default) == default
    assert effective_limits("bob", own, default) == own
    assert effective_limits("~owner", None, default) is None
    assert effective_limits("alice", None, None) is None
