"""The LLM composer inside whole cycles: nothing from a bad reply reaches the gateway."""

from __future__ import annotations

from typing import Any

import pytest

from tests.decision.fake_anthropic import FakeMessagesAPI, plan_reply
from tests.decision.test_llm_composer import BAD_REPLIES, item, make_request, plan
from tests.fakes import RecordingGateway, StaticPipeline
from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.decision.prompt_based.composer import LlmComposer
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.models import CycleStatus, TradeAction

PRICES = [{"BTC-USDT": 100_000.0, "ETH-USDT": 3_500.0}]


async def one_cycle(fake: FakeMessagesAPI):
    request = make_request()
    gateway = RecordingGateway(PaperExecutionGateway())
    parts = Components(
        pipeline=StaticPipeline(PRICES),
        composer=LlmComposer(request, client=fake.client()),
        gateway=gateway,
        clock=SimulatedClock(1_767_225_600_000),
    )
    runtime = await DefaultStrategyAgent().create_runtime(request, components=parts)
    return await runtime.coordinator.run_once(), gateway


@pytest.mark.parametrize("bad", list(BAD_REPLIES.values()), ids=list(BAD_REPLIES))
async def test_a_bad_reply_sends_no_order_and_the_cycle_records_why(bad: dict[str, Any]) -> None:
    result, gateway = await one_cycle(FakeMessagesAPI([bad, bad]))
    assert gateway.received == []
    assert result.status is CycleStatus.SKIPPED
    assert result.reason.startswith("llm_invalid: ")
    assert result.raw["prompt"]["user"]


DANGEROUS_BUT_VALID = {
    "unknown symbol": (item(symbol="DOGE-USDT"), "not in this strategy"),
    "leverage above the maximum": (item(leverage=50), "clamped to 3"),
    "huge quantity": (item(quantity=1_000_000), "buying power"),
    "close of a position that does not exist": (item(action="close_long"), "no long position"),
    "dust quantity 1e-12 BTC": (item(quantity=1e-12), "rounds to nothing"),
    "dust quantity 1e-10 BTC": (item(quantity=1e-10), "below the minimum notional"),
    "dust quantity 5e-9 BTC": (item(quantity=5e-9), "below the minimum notional"),
    "quantity worth 0.01 USDT": (item(quantity=1e-7), "below the minimum notional"),
}


@pytest.mark.parametrize(
    ("proposal", "reason"), DANGEROUS_BUT_VALID.values(), ids=list(DANGEROUS_BUT_VALID)
)
async def test_valid_but_unsafe_plans_are_dropped_or_clamped_by_the_guardrails(
    proposal: dict[str, Any], reason: str
) -> None:
    result, gateway = await one_cycle(FakeMessagesAPI([plan_reply(plan(proposal))]))
    assert result.status is CycleStatus.OK
    assert any(reason in note.reason for note in result.guard_notes)
    for inst in gateway.received:
        assert inst.leverage <= 3
        assert inst.quantity * 100_000 <= 30_000


async def test_a_valid_plan_becomes_the_guarded_instructions_and_fills() -> None:
    reply = plan_reply(
        plan(item(quantity=0.05, leverage=2), item(symbol="ETH-USDT", action="hold"))
    )
    result, gateway = await one_cycle(FakeMessagesAPI([reply]))
    assert result.status is CycleStatus.OK
    assert [(i.action, i.quantity, i.leverage) for i in gateway.received] == [
        (TradeAction.OPEN_LONG, 0.05, 2)
    ]
    assert result.portfolio.positions["BTC-USDT"].stop_loss == 95_000
    assert result.usage is not None and result.usage.input_tokens > 0
