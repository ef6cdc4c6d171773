"""The live gate: nothing reaches the exchange without the operator setting AND a valid confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.execution.harness import SENTINEL_KEY, SENTINEL_SECRET, fake_account
from tests.fakes import instruction, snapshot
from tests.live.helpers import LIVE_ENV, live_request, registered_fake
from tradeloop.services.live import open_live_gateway
from tradeloop.services.live_gate import (
    ConfirmationDeclined,
    ConfirmationExpired,
    ConfirmationForged,
    ConfirmationMismatch,
    ConfirmationMissing,
    ConfirmationReused,
    LiveGate,
    LiveTradingDisabled,
    live_params,
)
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.execution.intents import InMemoryIntentStore
from tradeloop.trading.models import MarketType, TradeAction, TradeSide, TxStatus

REQUEST = live_request()
PARAMS = live_params("start", REQUEST, "s_live")


@pytest.fixture
async def venue() -> AsyncIterator:
    account = fake_account("binance", MarketType.PERPETUAL)
    async with registered_fake(account, "binance", MarketType.PERPETUAL, "main"):
        yield account


def gate(enabled: bool = True, clock: SimulatedClock | None = None) -> LiveGate:
    return LiveGate(enabled=enabled, clock=clock or SimulatedClock(1_000_000), ttl_s=120)


def open_gateway(g: LiveGate, approval):
    return open_live_gateway(
        g,
        approval,
        "start",
        REQUEST,
        intents=InMemoryIntentStore(),
        strategy_id="s_live",
        approval_strategy_id="s_live",
        environ=LIVE_ENV,
    )


async def test_a_valid_token_for_the_exact_request_opens_a_gateway_that_trades(venue) -> None:
    g = gate()
    preview = g.issue("start", PARAMS)
    assert "TESTNET" in preview.summary and "BTC-USDT" in preview.summary
    gateway = open_gateway(g, g.redeem(preview.token, "start", PARAMS))
    buy = instruction("BTC-USDT", TradeSide.BUY, 0.01, action=TradeAction.OPEN_LONG)
    [tx] = await gateway.execute([buy], [snapshot("BTC-USDT", 50000.0)])
    assert tx.status is TxStatus.FILLED and len(venue.orders) == 1


async def test_without_the_operator_setting_no_preview_no_redeem_and_no_gateway(venue) -> None:
    off = gate(enabled=False)
    with pytest.raises(LiveTradingDisabled):
        off.issue("start", PARAMS)
    token = gate().issue("start", PARAMS).token  # even a token from an enabled gate
    with pytest.raises(LiveTradingDisabled):
        off.redeem(token, "start", PARAMS)
    with pytest.raises(LiveTradingDisabled):
        off.approve_elicited(True, "start", PARAMS)
    with pytest.raises(LiveTradingDisabled):
        off.approve_resume(PARAMS)
    assert venue.requests == []


def test_the_operator_setting_cannot_be_changed_on_a_gate() -> None:
    g = gate(enabled=False)
    with pytest.raises(AttributeError):
        g.enabled = True  # type: ignore[misc]
    assert g.enabled is False


async def test_a_missing_forged_altered_or_foreign_token_starts_nothing(venue) -> None:
    g = gate()
    real = g.issue("start", PARAMS).token
    nonce, expires, mac = real.split(".")
    other_process = gate().issue("start", PARAMS).token
    for token, error in [
        (None, ConfirmationMissing),
        ("", ConfirmationMissing),
        ("not-a-token", ConfirmationForged),
        (f"{nonce}.{int(expires) + 60_000}.{mac}", ConfirmationForged),  # extended expiry
        (other_process, ConfirmationForged),  # issued by another gate (key and nonces differ)
    ]:
        with pytest.raises(error):
            g.redeem(token, "start", PARAMS)
    assert venue.requests == []


async def test_an_expired_token_is_refused(venue) -> None:
    clock = SimulatedClock(1_000_000)
    g = gate(clock=clock)
    token = g.issue("start", PARAMS).token
    clock.advance(121)
    with pytest.raises(ConfirmationExpired):
        g.redeem(token, "start", PARAMS)
    assert venue.requests == []


async def test_a_token_is_single_use(venue) -> None:
    g = gate()
    token = g.issue("start", PARAMS).token
    g.redeem(token, "start", PARAMS)
    with pytest.raises(ConfirmationReused):
        g.redeem(token, "start", PARAMS)


@pytest.mark.parametrize(
    "changed",
    [
        live_params("start", live_request(symbols=["ETH-USDT"]), "s_live"),
        live_params("start", live_request(max_leverage=5.0), "s_live"),
        live_params("start", live_request(testnet=False), "s_live"),
        live_params("start", REQUEST, "s_other"),
    ],
)
async def test_a_token_for_other_parameters_is_refused_and_burned(venue, changed) -> None:
    g = gate()
    token = g.issue("start", PARAMS).token
    with pytest.raises(ConfirmationMismatch):
        g.redeem(token, "start", changed)
    with pytest.raises(ConfirmationReused):
        g.redeem(token, "start", PARAMS)  # a failed attempt used it up
    with pytest.raises(ConfirmationMismatch):
        g.redeem(g.issue("create", PARAMS).token, "start", PARAMS)  # other action
    assert venue.requests == []


async def test_a_declined_elicitation_starts_nothing(venue) -> None:
    g = gate()
    for answer in (False, None, "yes"):
        with pytest.raises(ConfirmationDeclined):
            g.approve_elicited(answer, "start", PARAMS)  # type: ignore[arg-type]
    assert venue.requests == []


async def test_an_approval_only_opens_the_gateway_for_the_request_it_covers(venue) -> None:
    g = gate()
    approval = g.approve_elicited(
        True, "start", live_params("start", live_request(symbols=["ETH-USDT"]), "s_live")
    )
    with pytest.raises(ConfirmationMismatch):
        open_gateway(g, approval)
    foreign = gate().approve_elicited(True, "start", PARAMS)  # made by another gate
    with pytest.raises(ConfirmationMismatch):
        open_gateway(g, foreign)
    assert venue.requests == []


def test_tokens_and_summaries_carry_no_secret() -> None:
    preview = gate().issue("start", PARAMS)
    for text in (preview.token, preview.summary, repr(preview)):
        assert SENTINEL_KEY not in text and SENTINEL_SECRET not in text
