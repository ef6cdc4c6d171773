"""What a plan attached to a position survives a restart: the opening rationale, and the stop and
target a later plan moved (real SQLite, the service closed and opened again)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.decision.fake_anthropic import FakeMessagesAPI, plan_reply
from tests.decision.test_level_adjustments import adjust, context_of
from tests.decision.test_llm_composer import item, make_request, plan
from tests.services.helpers import ScriptedAgent, connect_readonly, live_request
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.decision.prompt_based import LlmComposer

PRICES = [{"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0}]
OPEN = plan(item(quantity=0.05, leverage=1, rationale="breakout above the 1h range"))


def service(settings: Settings, clock: SimulatedClock, fake: FakeMessagesAPI):  # type: ignore[no-untyped-def]
    """The service with an LLM composer over the fake Messages API (same fake across restarts)."""
    agent = ScriptedAgent(PRICES, lambda: LlmComposer(make_request(), client=fake.client()))
    return StrategyService.open(settings, agents={"default": agent}, clock=clock)


def iso_seconds(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def btc_in(body: dict[str, Any]) -> dict[str, Any]:
    return {p["symbol"]: p for p in context_of(body)["portfolio"]["positions"]}["BTC-USDT"]


async def test_the_opening_rationale_is_in_the_context_after_a_restart(
    settings: Settings, clock: SimulatedClock
) -> None:
    fake = FakeMessagesAPI([plan_reply(OPEN), plan_reply(plan())])
    request = live_request(
        initial_capital=10_000, symbols=["BTC-USDT", "ETH-USDT"], decide_interval=3600
    )
    opened_at = iso_seconds(clock.now_ms())
    async with service(settings, clock, fake) as svc:
        sid = (await svc.create(request, name="llm")).strategy_id
        opened = await svc.run_cycle_now(sid)
        assert opened.portfolio.positions["BTC-USDT"].quantity == 0.05
    clock.advance(3600)
    async with service(settings, clock, fake) as svc:
        await svc.run_cycle_now(sid)
        portfolio = await svc.get_portfolio(sid)

    assert btc_in(fake.bodies[1])["entry"] == {
        "rationale": "breakout above the 1h range",
        "decided": opened_at,
    }
    entry = portfolio.positions["BTC-USDT"].entry
    assert entry is not None and entry.rationale == "breakout above the 1h range"
    assert entry.compose_id == opened.compose_id


async def test_moved_levels_and_the_cycle_recording_them_survive_a_restart(
    settings: Settings, clock: SimulatedClock
) -> None:
    moved = plan(adjust(stop_loss=99_000, cancel_take_profit=True))
    fake = FakeMessagesAPI([plan_reply(OPEN), plan_reply(moved), plan_reply(plan())])
    request = live_request(
        initial_capital=10_000, symbols=["BTC-USDT", "ETH-USDT"], decide_interval=3600
    )
    async with service(settings, clock, fake) as svc:
        sid = (await svc.create(request, name="llm")).strategy_id
        await svc.run_cycle_now(sid)
        clock.advance(3600)
        adjusted = await svc.run_cycle_now(sid)
        assert [a.stop_loss for a in adjusted.adjustments] == [99_000]
    clock.advance(3600)
    async with service(settings, clock, fake) as svc:
        await svc.run_cycle_now(sid)
        stored = await svc.get_cycle(adjusted.compose_id)
        portfolio = await svc.get_portfolio(sid)

    btc = btc_in(fake.bodies[2])
    assert btc["stop_loss"] == 99_000 and "take_profit" not in btc
    position = portfolio.positions["BTC-USDT"]
    assert (position.stop_loss, position.take_profit) == (99_000, None)
    [applied] = stored.adjustments
    assert (applied.stop_loss, applied.cancel_take_profit) == (99_000, True)
    assert (applied.previous_stop_loss, applied.previous_take_profit) == (95_000, 110_000)
    assert stored.proposed_adjustments == adjusted.proposed_adjustments
    with connect_readonly(settings.db_path) as conn:
        row = conn.execute(
            "SELECT adjustments FROM cycles WHERE compose_id = ?", (adjusted.compose_id,)
        ).fetchone()
    assert row["adjustments"] is not None  # its own column: the ledger alone would lose the record
