"""A plan moves or cancels the stop-loss and take-profit of a position it holds: over both providers'
wire formats, through whole cycles (guardrails, portfolio, the next cycle's stop check)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.decision.fake_anthropic import FakeMessagesAPI, plan_reply
from tests.decision.fake_openai import FakeChatAPI, plan_completion
from tests.decision.test_llm_composer import item, make_context, make_request, plan
from tests.decision.test_providers import openai_request
from tests.fakes import RecordingGateway, StaticPipeline
from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.decision.prompt_based import LlmComposer
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.models import InstrumentRef, LevelAdjustment, TradeAction, UserRequest

TS = 1_767_225_600_000


class Provider:
    """One provider's wire fake: how a plan reply looks and which request the composer gets."""

    def __init__(
        self,
        fake: Callable[[list[Any]], FakeMessagesAPI],
        reply: Callable[[Any], dict[str, Any]],
        request: Callable[[], UserRequest],
    ) -> None:
        self.fake, self.reply, self.request = fake, reply, request

    def composer(self, replies: list[dict[str, Any]]) -> tuple[LlmComposer, FakeMessagesAPI]:
        fake = self.fake([self.reply(r) for r in replies])
        return LlmComposer(self.request(), client=fake.client()), fake


PROVIDERS = {
    "anthropic": Provider(FakeMessagesAPI, plan_reply, make_request),
    "openai": Provider(FakeChatAPI, plan_completion, openai_request),
}


@pytest.fixture(params=list(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Provider:
    return PROVIDERS[request.param]


def adjust(symbol: str = "BTC-USDT", **levels: Any) -> dict[str, Any]:
    base = item(symbol=symbol, action="adjust", quantity=0, leverage=1, rationale="trail it")
    return {k: v for k, v in base.items() if k not in ("stop_loss", "take_profit")} | levels


def context_of(body: dict[str, Any]) -> dict[str, Any]:
    """The context document a request sent (the first user message, in either wire format)."""
    user = next(m for m in body["messages"] if m["role"] == "user")
    return json.loads(user["content"])


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    tool = body["tools"][0]
    return tool.get("input_schema") or tool["function"]["parameters"]


# --------------------------------------------------------------------------- the plan


async def test_an_adjust_item_becomes_a_level_adjustment_and_no_order(provider: Provider) -> None:
    # the context holds a 0.5 ETH short; a short's stop sits above the price
    reply = plan(adjust("ETH-USDT", stop_loss=3_700, cancel_take_profit=True))
    composer, _ = provider.composer([reply])

    result = await composer.compose(make_context())

    assert result.instructions == []
    assert result.adjustments == [
        LevelAdjustment(
            adjustment_id="c_test:0",
            compose_id="c_test",
            instrument=InstrumentRef(symbol="ETH-USDT", exchange_id="binance"),
            stop_loss=3_700,
            cancel_take_profit=True,
            meta={"confidence": 0.7, "rationale": "trail it"},
        )
    ]


async def test_the_plan_tool_offers_adjust_and_the_cancel_flags(provider: Provider) -> None:
    composer, fake = provider.composer([plan()])
    await composer.compose(make_context())

    items = schema_of(fake.bodies[0])["properties"]["items"]["items"]
    assert "adjust" in items["properties"]["action"]["enum"]
    assert items["properties"]["cancel_stop_loss"]["type"] == "boolean"
    assert items["properties"]["cancel_take_profit"]["type"] == "boolean"


# --------------------------------------------------------------------------- whole cycles


async def cycles(provider: Provider, replies: list[dict[str, Any]], prices: list[dict]):  # type: ignore[no-untyped-def]
    """Run one cycle per price set with the model's replies in turn; (results, fake, gateway)."""
    composer, fake = provider.composer(replies)
    clock = SimulatedClock(TS)
    gateway = RecordingGateway(PaperExecutionGateway(clock=clock))
    parts = Components(
        pipeline=StaticPipeline(prices), composer=composer, gateway=gateway, clock=clock
    )
    runtime = await DefaultStrategyAgent().create_runtime(provider.request(), components=parts)
    results = []
    for _ in prices:
        results.append(await runtime.coordinator.run_once())
        clock.advance(3600)  # seconds
    return results, fake, gateway


OPEN = plan(item(quantity=0.05, leverage=1, stop_loss=95_000, take_profit=110_000))


async def test_a_moved_stop_is_the_level_the_next_cycle_closes_at(provider: Provider) -> None:
    prices = [
        {"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0},
        {"BTC-USDT": 101_000.0, "ETH-USDT": 3_500.0},
        {"BTC-USDT": 100_400.0, "ETH-USDT": 3_500.0},  # under the new stop, far above the old
    ]
    moved = plan(adjust(stop_loss=100_500, cancel_take_profit=True))
    results, fake, gateway = await cycles(provider, [OPEN, moved, plan()], prices)

    second = results[1]
    assert second.instructions == [] and second.tx_results == []
    assert second.adjustments == [
        second.proposed_adjustments[0].model_copy(
            update={"previous_stop_loss": 95_000, "previous_take_profit": 110_000}
        )
    ]
    btc = second.portfolio.positions["BTC-USDT"]
    assert (btc.stop_loss, btc.take_profit) == (100_500, None)
    exit_ = results[2].instructions[0]
    assert exit_.meta == {"trigger": "stop_loss", "trigger_price": 100_500}
    assert exit_.action is TradeAction.CLOSE_LONG and results[2].portfolio.positions == {}
    assert [i.action for i in gateway.received] == [TradeAction.OPEN_LONG, TradeAction.CLOSE_LONG]


async def test_the_model_sees_its_new_levels_and_its_adjustment_in_recent_decisions(
    provider: Provider,
) -> None:
    prices = [{"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0}, {"BTC-USDT": 102_000.0}]
    moved = plan(adjust(stop_loss=101_000, take_profit=120_000))
    _, fake, _ = await cycles(provider, [OPEN, moved, plan()], [*prices, prices[-1]])

    document = context_of(fake.bodies[2])
    btc = {p["symbol"]: p for p in document["portfolio"]["positions"]}["BTC-USDT"]
    assert (btc["stop_loss"], btc["take_profit"]) == (101_000, 120_000)
    assert (
        "adjust BTC-USDT stop_loss 101000 take_profit 120000"
        in (document["recent_decisions"][-1]["actions"])
    )


UNSAFE = {
    "a long's stop above the price": (
        adjust(stop_loss=102_000),
        "stop_loss 102000 ignored: a long's must be below the price 101000",
    ),
    "a long's stop exactly at the price": (
        adjust(stop_loss=101_000),
        "stop_loss 101000 ignored: a long's must be below the price 101000",
    ),
    "a long's target below the price": (
        adjust(take_profit=100_000),
        "take_profit 100000 ignored: a long's must be above the price 101000",
    ),
    "no position in the symbol": (
        adjust("ETH-USDT", stop_loss=3_000),
        "no open ETH-USDT position to adjust",
    ),
    "a symbol the strategy does not trade": (
        adjust("SOL-USDT", stop_loss=100),
        "symbol SOL-USDT is not in this strategy's symbols",
    ),
}


@pytest.mark.parametrize(("proposal", "reason"), UNSAFE.values(), ids=list(UNSAFE))
async def test_an_unsafe_adjustment_is_dropped_with_its_reason_and_levels_stay(
    provider: Provider, proposal: dict[str, Any], reason: str
) -> None:
    prices = [{"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0}, {"BTC-USDT": 101_000.0}]
    results, _, _ = await cycles(provider, [OPEN, plan(proposal)], prices)

    second = results[1]
    assert second.adjustments == [] and len(second.proposed_adjustments) == 1
    assert [(n.outcome, n.reason) for n in second.guard_notes] == [("dropped", reason)]
    btc = second.portfolio.positions["BTC-USDT"]
    assert (btc.stop_loss, btc.take_profit) == (95_000, 110_000)


async def test_an_adjustment_of_a_position_the_plan_also_closes_is_dropped(
    provider: Provider,
) -> None:
    prices = [{"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0}, {"BTC-USDT": 101_000.0}]
    close_and_move = plan(
        item(action="close_long", quantity=0.05, stop_loss=None, take_profit=None),
        adjust(stop_loss=100_000),
    )
    results, _, _ = await cycles(provider, [OPEN, close_and_move], prices)

    second = results[1]
    assert second.adjustments == [] and second.portfolio.positions == {}
    assert [(n.outcome, n.reason) for n in second.guard_notes] == [
        ("dropped", "the BTC-USDT position is closed in this cycle")
    ]
