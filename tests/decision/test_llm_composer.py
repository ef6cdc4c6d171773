"""LlmComposer against a scripted Messages API: what is sent, what comes back, what fails how."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import traceback
from typing import Any

import httpx2
import pytest

from tests.decision.fake_anthropic import (
    SENTINEL_KEY,
    FakeMessagesAPI,
    api_error,
    message,
    overloaded,
    plan_reply,
    rate_limited,
    text,
    tool_use,
)
from tradeloop.trading.decision.hybrid import HybridComposer
from tradeloop.trading.decision.prompt_based import LlmComposer
from tradeloop.trading.decision.prompt_based.composer import build_client, resolve_api_key
from tradeloop.trading.decision.prompt_based.plan import (
    PLAN_TOOL_NAME,
    TradePlan,
    parse_plan,
    plan_input_schema,
    plan_to_instructions,
)
from tradeloop.trading.decision.prompt_based.pricing import cost_usd, price_for
from tradeloop.trading.errors import ConfigError, OperationalError, TemporaryError
from tradeloop.trading.models import (
    ComposeContext,
    ExchangeConfig,
    FeatureVector,
    InstrumentRef,
    LLMModelConfig,
    MarketType,
    PortfolioView,
    PositionSnapshot,
    TradeAction,
    TradeDigest,
    TradeSide,
    TradingConfig,
    UserRequest,
)

TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
COMPOSE_ID = "c_test"


def make_request(model_id: str = "claude-sonnet-4-5", **trading: Any) -> UserRequest:
    return UserRequest(
        llm_model_config=LLMModelConfig(model_id=model_id, max_retries=0, timeout_s=5),
        exchange_config=ExchangeConfig(market_type=MarketType.PERPETUAL),
        trading_config=TradingConfig(
            initial_capital=10_000,
            symbols=["BTC-USDT", "ETH-USDT"],
            max_leverage=3,
            composer="llm",
            **trading,
        ),
    )


def make_context() -> ComposeContext:
    def snapshot(symbol: str, price: float) -> FeatureVector:
        return FeatureVector(
            ts=TS,
            instrument=InstrumentRef(symbol=symbol, exchange_id="binance"),
            values={"price": price, "high": price * 1.01, "low": price * 0.99},
            meta={"group_by_key": "market_snapshot"},
        )

    return ComposeContext(
        ts=TS,
        compose_id=COMPOSE_ID,
        strategy_id="s_test",
        features=[snapshot("BTC-USDT", 100_000.0), snapshot("ETH-USDT", 3_500.0)],
        portfolio=PortfolioView(
            strategy_id="s_test",
            ts=TS,
            account_balance=10_000.0,
            total_value=10_000.0,
            buying_power=30_000.0,
            positions={
                "ETH-USDT": PositionSnapshot(
                    instrument=InstrumentRef(symbol="ETH-USDT"), quantity=-0.5, avg_price=3_600.0
                )
            },
        ),
        digest=TradeDigest(ts=TS),
    )


def item(**changes: Any) -> dict[str, Any]:
    base = {
        "symbol": "BTC-USDT",
        "action": "open_long",
        "quantity": 0.01,
        "leverage": 2,
        "confidence": 0.7,
        "stop_loss": 95_000,
        "take_profit": 110_000,
        "rationale": "breakout above the 1h range",
    }
    return base | changes


def plan(*items: dict[str, Any], rationale: str = "trend is up") -> dict[str, Any]:
    return {"rationale": rationale, "items": list(items)}


def composer_for(fake: FakeMessagesAPI, *, max_retries: int = 0, **kwargs: Any) -> LlmComposer:
    return LlmComposer(make_request(**kwargs), client=fake.client(max_retries=max_retries))


def feedback_of(body: dict[str, Any]) -> str:
    """The text of the repair turn (the last user message) of a request."""
    blocks = body["messages"][-1]["content"]
    return " ".join(b.get("content") or b.get("text") or "" for b in blocks)


# --------------------------------------------------------------------------- valid plans


async def test_a_valid_plan_becomes_the_expected_instructions() -> None:
    reply = plan(
        item(),
        item(symbol="ETH-USDT", action="close_short", quantity=0.5, leverage=1, confidence=0.6),
    )
    fake = FakeMessagesAPI([plan_reply(reply)])

    result = await composer_for(fake).compose(make_context())

    assert result.skipped_reason is None
    assert result.rationale == "trend is up"
    first, second = result.instructions
    assert first.instruction_id == f"{COMPOSE_ID}:0"
    assert first.compose_id == COMPOSE_ID
    assert first.instrument == InstrumentRef(symbol="BTC-USDT", exchange_id="binance")
    assert (first.side, first.action, first.quantity) == (
        TradeSide.BUY,
        TradeAction.OPEN_LONG,
        0.01,
    )
    assert (first.leverage, first.stop_loss, first.take_profit) == (2.0, 95_000, 110_000)
    assert first.meta == {"confidence": 0.7, "rationale": "breakout above the 1h range"}
    assert (second.side, second.action, second.quantity) == (
        TradeSide.BUY,
        TradeAction.CLOSE_SHORT,
        0.5,
    )
    assert result.raw is not None and result.raw["attempts"] == 1 and result.raw["errors"] == []
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("action", "side"),
    [
        ("open_long", TradeSide.BUY),
        ("close_short", TradeSide.BUY),
        ("open_short", TradeSide.SELL),
        ("close_long", TradeSide.SELL),
    ],
)
def test_each_action_maps_to_its_side(action: str, side: TradeSide) -> None:
    (inst,) = plan_to_instructions(parse_plan(plan(item(action=action))), make_context())
    assert (inst.side, inst.action) == (side, TradeAction(action))


def test_hold_items_give_no_instruction_and_ids_name_the_plan_item() -> None:
    reply = plan(item(symbol="ETH-USDT", action="hold", quantity=0), item())
    (inst,) = plan_to_instructions(parse_plan(reply), make_context())
    assert inst.instruction_id == f"{COMPOSE_ID}:1"


def test_symbols_are_normalized_and_unknown_ones_are_left_to_the_guardrails() -> None:
    reply = plan(item(symbol="eth/usdt"), item(symbol="DOGEUSDT"))
    symbols = [i.instrument.symbol for i in plan_to_instructions(parse_plan(reply), make_context())]
    assert symbols == ["ETH-USDT", "DOGE-USDT"]


def test_an_empty_plan_is_valid_and_gives_no_instructions() -> None:
    assert plan_to_instructions(parse_plan(plan()), make_context()) == []


async def test_the_request_forces_one_plan_call_with_a_cached_system_prompt() -> None:
    fake = FakeMessagesAPI([plan_reply(plan())])
    await composer_for(fake).compose(make_context())

    (body,) = fake.bodies
    assert body["model"] == "claude-sonnet-4-5"
    assert body["max_tokens"] == LLMModelConfig().max_tokens
    assert body["tool_choice"] == {
        "type": "tool",
        "name": PLAN_TOOL_NAME,
        "disable_parallel_tool_use": True,
    }
    assert [t["name"] for t in body["tools"]] == [PLAN_TOOL_NAME]
    (system,) = body["system"]
    assert system["cache_control"] == {"type": "ephemeral"}
    assert "submit_trade_plan" in system["text"]
    assert body["messages"] == [{"role": "user", "content": body["messages"][0]["content"]}]
    json.loads(body["messages"][0]["content"])  # the user turn is the context document
    assert not {"temperature", "top_p", "top_k"} & set(body)


async def test_models_that_reject_a_forced_tool_choice_get_auto() -> None:
    fake = FakeMessagesAPI([plan_reply(plan())])
    await composer_for(fake, model_id="claude-sonnet-5-5").compose(make_context())
    assert fake.bodies[0]["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_the_plan_schema_is_self_contained_and_closed() -> None:
    schema = plan_input_schema()
    dumped = json.dumps(schema)
    assert "$ref" not in dumped and "$defs" not in dumped
    assert schema["additionalProperties"] is False
    assert schema["properties"]["items"]["items"]["additionalProperties"] is False
    assert set(schema["required"]) == {"rationale", "items"}


# --------------------------------------------------------------------------- invalid replies

NAN, INF = math.nan, math.inf


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in item().items() if k != key}


BAD_REPLIES: dict[str, dict[str, Any]] = {
    "text only": message([text("I would buy some BTC here.")], stop_reason="end_turn"),
    "plan as text JSON": message([text(json.dumps(plan(item())))], stop_reason="end_turn"),
    "malformed JSON as text": message(
        [text('{"rationale": "x", "items": [')], stop_reason="end_turn"
    ),
    "empty content": message([], stop_reason="end_turn"),
    "content is null": message([]) | {"content": None},
    "refusal": message([], stop_reason="refusal"),
    "cut off at max_tokens": plan_reply(plan(item()), stop_reason="max_tokens"),
    "wrong tool name": message([tool_use(plan(item()), name="place_order")]),
    "two plan calls": message(
        [tool_use(plan(item()), block_id="toolu_a"), tool_use(plan(item()), block_id="toolu_b")]
    ),
    "input is malformed JSON string": plan_reply('{"rationale": "x", "items": ['),
    "input is a list": plan_reply([item()]),
    "input is empty": plan_reply({}),
    "missing rationale": plan_reply({"items": [item()]}),
    "empty rationale": plan_reply(plan(item(), rationale="")),
    "missing items": plan_reply({"rationale": "x"}),
    "items not a list": plan_reply({"rationale": "x", "items": item()}),
    "items as JSON string": plan_reply({"rationale": "x", "items": json.dumps([item()])}),
    "items null": plan_reply({"rationale": "x", "items": None}),
    "item not an object": plan_reply(plan("open_long BTC-USDT 0.01")),  # type: ignore[arg-type]
    "too many items": plan_reply(plan(*[item()] * 101)),
    "extra top-level key": plan_reply(plan(item()) | {"leverage": 5}),
    "extra item key": plan_reply(plan(item(price=100_000))),
    "symbol !!": plan_reply(plan(item(symbol="!!"))),
    "symbol empty": plan_reply(plan(item(symbol=""))),
    "symbol number": plan_reply(plan(item(symbol=123))),
    "symbol same base and quote": plan_reply(plan(item(symbol="USDT-USDT"))),
    "action buy": plan_reply(plan(item(action="buy"))),
    "action upper case": plan_reply(plan(item(action="OPEN_LONG"))),
    "quantity negative": plan_reply(plan(item(quantity=-1))),
    "quantity NaN": plan_reply(plan(item(quantity=NAN))),
    "quantity inf": plan_reply(plan(item(quantity=INF))),
    "quantity -inf": plan_reply(plan(item(quantity=-INF))),
    "quantity 1e308": plan_reply(plan(item(quantity=1e308))),
    "quantity zero for an open": plan_reply(plan(item(quantity=0))),
    "quantity below dust": plan_reply(plan(item(quantity=1e-300))),
    "quantity string": plan_reply(plan(item(quantity="0.5"))),
    "quantity bool": plan_reply(plan(item(quantity=True))),
    "quantity missing": plan_reply(plan(_without("quantity"))),
    "leverage 0": plan_reply(plan(item(leverage=0))),
    "leverage NaN": plan_reply(plan(item(leverage=NAN))),
    "leverage below 1": plan_reply(plan(item(leverage=0.5))),
    "leverage absurd": plan_reply(plan(item(leverage=1000))),
    "confidence 2": plan_reply(plan(item(confidence=2))),
    "confidence negative": plan_reply(plan(item(confidence=-0.1))),
    "confidence NaN": plan_reply(plan(item(confidence=NAN))),
    "confidence missing": plan_reply(plan(_without("confidence"))),
    "stop_loss negative": plan_reply(plan(item(stop_loss=-5))),
    "stop_loss string": plan_reply(plan(item(stop_loss="none"))),
    "take_profit zero": plan_reply(plan(item(take_profit=0))),
    "take_profit inf": plan_reply(plan(item(take_profit=INF))),
    "item rationale missing": plan_reply(plan(_without("rationale"))),
    "one bad item among good ones": plan_reply(plan(item(), item(quantity=NAN), item())),
    "adjust with a quantity": plan_reply(plan(item(action="adjust", quantity=0.01))),
    "adjust that changes nothing": plan_reply(
        plan(item(action="adjust", quantity=0, stop_loss=None, take_profit=None))
    ),
    "adjust sets and cancels the stop": plan_reply(
        plan(item(action="adjust", quantity=0, cancel_stop_loss=True))
    ),
    "adjust stop_loss negative": plan_reply(plan(item(action="adjust", quantity=0, stop_loss=-1))),
    "cancel flag as a string": plan_reply(
        plan(item(action="adjust", quantity=0, take_profit=None, cancel_take_profit="true"))
    ),
    "cancel flag on an open": plan_reply(plan(item(take_profit=None, cancel_take_profit=True))),
}


@pytest.mark.parametrize("bad", list(BAD_REPLIES.values()), ids=list(BAD_REPLIES))
async def test_a_bad_reply_after_one_repair_gives_no_instructions(bad: dict[str, Any]) -> None:
    fake = FakeMessagesAPI([bad, bad])

    result = await composer_for(fake).compose(make_context())

    assert result.instructions == [] and result.adjustments == []
    assert result.skipped_reason is not None and result.skipped_reason.startswith("llm_invalid: ")
    assert result.raw is not None and result.raw["attempts"] == 2
    assert len(fake.requests) == 2
    first_error = result.raw["errors"][0][0]
    assert first_error in feedback_of(fake.bodies[1])
    json.dumps(result.raw, allow_nan=False)


def test_the_bad_reply_corpus_is_large_enough() -> None:
    assert len(BAD_REPLIES) >= 30


async def test_a_bad_reply_followed_by_a_valid_repair_gives_the_repaired_plan() -> None:
    bad = plan_reply(plan(item(quantity=-1)), msg_id="msg_bad")
    good = plan_reply(plan(item(quantity=0.02), rationale="repaired"), msg_id="msg_good")
    fake = FakeMessagesAPI([bad, good])

    result = await composer_for(fake).compose(make_context())

    assert [i.quantity for i in result.instructions] == [0.02]
    assert result.rationale == "repaired" and result.skipped_reason is None
    assert result.raw is not None and result.raw["attempts"] == 2
    repair = fake.bodies[1]
    user, assistant, tool_result = repair["messages"]
    assert user == fake.bodies[0]["messages"][0]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["type"] == "tool_use"
    assert assistant["content"][0]["input"]["items"][0]["quantity"] == -1
    (block,) = tool_result["content"]
    assert block["type"] == "tool_result" and block["is_error"] is True
    assert block["tool_use_id"] == "toolu_01Fake"
    assert "items.0.quantity" in block["content"]


async def test_a_text_reply_is_repaired_with_a_text_turn() -> None:
    fake = FakeMessagesAPI([BAD_REPLIES["text only"], plan_reply(plan())])
    result = await composer_for(fake).compose(make_context())

    assert result.skipped_reason is None
    _, assistant, repair = fake.bodies[1]["messages"]
    assert assistant["content"] == [{"type": "text", "text": "I would buy some BTC here."}]
    assert repair["content"][0]["type"] == "text"
    assert "instead of calling submit_trade_plan" in repair["content"][0]["text"]


async def test_every_tool_call_of_a_bad_reply_gets_an_error_result() -> None:
    fake = FakeMessagesAPI([BAD_REPLIES["two plan calls"], plan_reply(plan())])
    await composer_for(fake).compose(make_context())

    results = fake.bodies[1]["messages"][-1]["content"]
    assert [(r["tool_use_id"], r["is_error"]) for r in results] == [
        ("toolu_a", True),
        ("toolu_b", True),
    ]


async def test_an_empty_reply_is_repaired_without_an_empty_assistant_turn() -> None:
    fake = FakeMessagesAPI([BAD_REPLIES["empty content"], plan_reply(plan())])
    await composer_for(fake).compose(make_context())
    assert [m["role"] for m in fake.bodies[1]["messages"]] == ["user", "user"]


# --------------------------------------------------------------------------- transport failures


async def test_a_rate_limit_then_success_is_retried_by_the_sdk() -> None:
    fake = FakeMessagesAPI([rate_limited(), plan_reply(plan(item()))])

    result = await composer_for(fake, max_retries=1).compose(make_context())

    assert len(fake.requests) == 2
    assert len(result.instructions) == 1


async def test_timeouts_after_the_sdk_retries_raise_temporary_error() -> None:
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    fake = FakeMessagesAPI([httpx2.ReadTimeout("read timed out", request=request)] * 2)

    with pytest.raises(TemporaryError, match="timed out"):
        await composer_for(fake, max_retries=1).compose(make_context())
    assert len(fake.requests) == 2


async def test_a_connection_failure_raises_temporary_error() -> None:
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    fake = FakeMessagesAPI([httpx2.ConnectError("connection refused", request=request)])

    with pytest.raises(TemporaryError, match="unreachable"):
        await composer_for(fake).compose(make_context())


async def test_overloaded_after_the_sdk_retries_raises_temporary_error() -> None:
    fake = FakeMessagesAPI([overloaded(), overloaded()])

    with pytest.raises(TemporaryError, match="overloaded_error"):
        await composer_for(fake, max_retries=1).compose(make_context())
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_busy_statuses_after_retries_raise_temporary_error(status: int) -> None:
    fake = FakeMessagesAPI([api_error(status, "api_error", "try later")])
    with pytest.raises(TemporaryError, match=f"HTTP {status}"):
        await composer_for(fake).compose(make_context())


@pytest.mark.parametrize(
    ("status", "error_type", "match"),
    [
        (401, "authentication_error", "rejected the API key"),
        (403, "permission_error", "rejected the API key"),
        (404, "not_found_error", "model 'claude-sonnet-4-5' not found"),
        (400, "invalid_request_error", "rejected the request"),
    ],
)
async def test_credential_model_and_request_errors_raise_operational_error(
    status: int, error_type: str, match: str
) -> None:
    fake = FakeMessagesAPI([api_error(status, error_type, "nope")])
    with pytest.raises(OperationalError, match=match):
        await composer_for(fake).compose(make_context())
    assert len(fake.requests) == 1


async def test_a_transport_failure_during_the_repair_raises_temporary_error() -> None:
    fake = FakeMessagesAPI([BAD_REPLIES["text only"], overloaded()])
    with pytest.raises(TemporaryError):
        await composer_for(fake).compose(make_context())


async def test_a_response_body_that_is_not_json_raises_temporary_error() -> None:
    body = httpx2.Response(
        200, content=b'{"id": "msg_1", "ty', headers={"content-type": "application/json"}
    )
    fake = FakeMessagesAPI([body])
    with pytest.raises(TemporaryError, match="not JSON"):
        await composer_for(fake).compose(make_context())


# --------------------------------------------------------------------------- configuration


async def test_a_missing_api_key_raises_operational_error_at_compose_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    composer = LlmComposer(make_request())  # constructing needs no key

    with pytest.raises(OperationalError, match="ANTHROPIC_API_KEY is not set"):
        await composer.compose(make_context())


def test_a_custom_key_variable_is_read_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = LLMModelConfig(api_key_env="MY_CLAUDE_KEY")
    monkeypatch.delenv("MY_CLAUDE_KEY", raising=False)
    with pytest.raises(OperationalError, match="MY_CLAUDE_KEY is not set"):
        resolve_api_key(cfg)
    monkeypatch.setenv("MY_CLAUDE_KEY", SENTINEL_KEY)
    assert resolve_api_key(cfg) == SENTINEL_KEY
    assert resolve_api_key(cfg, "sk-explicit") == "sk-explicit"


async def test_the_built_client_sends_the_key_and_uses_the_configured_retries() -> None:
    cfg = LLMModelConfig(max_retries=1, timeout_s=7)
    fake = FakeMessagesAPI([rate_limited(), plan_reply(plan())])
    client = build_client(cfg, SENTINEL_KEY, http_client=fake.http_client())

    assert (client.max_retries, client.timeout) == (1, 7)
    await LlmComposer(make_request(), client=client).compose(make_context())
    assert len(fake.requests) == 2
    assert any(SENTINEL_KEY in value for value in fake.requests[0].headers.values())


def test_an_unknown_template_is_a_config_error_at_construction() -> None:
    with pytest.raises(ConfigError, match="available: aggressive, conservative, default"):
        LlmComposer(make_request(template="yolo"))


def test_openai_compatible_is_read_as_the_openai_provider_with_its_own_key_variable() -> None:
    cfg = LLMModelConfig.model_validate({"provider": "openai_compatible", "model": "gpt-4.1-mini"})
    assert (cfg.provider, cfg.model_id, cfg.api_key_env) == (
        "openai",
        "gpt-4.1-mini",
        "OPENAI_API_KEY",
    )


def test_importing_the_composer_package_does_not_import_the_sdk() -> None:
    code = (
        "import sys, tradeloop.trading.decision.prompt_based, tradeloop.trading.decision.hybrid; "
        "sys.exit('anthropic' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --------------------------------------------------------------------------- usage and cost


async def test_usage_and_cost_are_summed_over_attempts_including_cache_tokens() -> None:
    bad = message(
        [text("thinking out loud")],
        stop_reason="end_turn",
        input_tokens=300,
        output_tokens=40,
        cache_creation_input_tokens=1500,
        cache_read_input_tokens=0,
    )
    good = plan_reply(
        plan(item()),
        input_tokens=350,
        output_tokens=120,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=1500,
    )
    fake = FakeMessagesAPI([bad, good])

    result = await composer_for(fake).compose(make_context())

    usage = result.usage
    assert usage is not None
    assert usage.model == "claude-sonnet-4-5-20250929"
    assert (usage.input_tokens, usage.output_tokens) == (650, 160)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (1500, 1500)
    expected = (650 * 3 + 160 * 15 + 1500 * 3.75 + 1500 * 0.30) / 1_000_000
    assert usage.cost_usd == pytest.approx(expected)
    assert usage.latency_ms >= 0


def test_prices_match_dated_ids_and_unknown_models_cost_unknown_not_zero() -> None:
    assert price_for("claude-opus-4-5-20251101") == price_for("claude-opus-4-5")
    opus_4 = price_for("claude-opus-4-20250514")
    assert opus_4 is not None and opus_4.input == 15.0
    assert price_for("some-future-model") is None
    assert cost_usd("some-future-model", input_tokens=1000, output_tokens=10) is None
    assert cost_usd("claude-haiku-4-5", input_tokens=1_000_000, output_tokens=0) == 1.0


# --------------------------------------------------------------------------- secrets


def _exception_text(exc: BaseException) -> str:
    return repr(exc) + "".join(traceback.format_exception(exc))


async def test_the_api_key_never_appears_in_raw_usage_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echoing = api_error(400, "invalid_request_error", f"bad header x-api-key: {SENTINEL_KEY}")
    fake = FakeMessagesAPI(
        [
            plan_reply(plan(item())),
            BAD_REPLIES["quantity NaN"],
            BAD_REPLIES["quantity NaN"],
            api_error(401, "authentication_error", "invalid x-api-key"),
            echoing,
        ]
    )
    composer = LlmComposer(make_request(), api_key=SENTINEL_KEY, client=fake.client())
    texts: list[str] = []

    for _ in range(2):
        result = await composer.compose(make_context())
        texts += [json.dumps(result.raw), result.model_dump_json()]
    for _ in range(2):
        with pytest.raises(OperationalError) as caught:
            await composer.compose(make_context())
        texts.append(_exception_text(caught.value))

    assert any(SENTINEL_KEY in value for value in fake.requests[0].headers.values())
    texts += [r.getMessage() + str(r.exc_text) for r in caplog.records]
    assert caplog.records  # the SDK's debug logs were captured too
    assert not [t for t in texts if SENTINEL_KEY in t]


async def test_raw_survives_strict_json_even_with_nan_in_the_reply() -> None:
    fake = FakeMessagesAPI([BAD_REPLIES["quantity NaN"]] * 2)
    result = await composer_for(fake).compose(make_context())
    assert result.raw is not None
    assert (
        json.loads(json.dumps(result.raw, allow_nan=False))["reply"]["items"][0]["quantity"]
        == "nan"
    )
    assert set(result.raw["prompt"]) == {"system", "user"}


# --------------------------------------------------------------------------- hybrid


def _two_confidences() -> dict[str, Any]:
    return plan_reply(plan(item(confidence=0.9), item(symbol="ETH-USDT", confidence=0.4)))


async def test_the_hybrid_composer_keeps_everything_by_default() -> None:
    fake = FakeMessagesAPI([_two_confidences()])
    request = make_request()
    hybrid = HybridComposer(request, LlmComposer(request, client=fake.client()))

    result = await hybrid.compose(make_context())

    assert len(result.instructions) == 2
    assert result.rationale == "LLM + risk filters: trend is up"
    assert result.usage is not None and result.raw is not None


async def test_the_hybrid_composer_drops_low_confidence_instructions() -> None:
    fake = FakeMessagesAPI([_two_confidences()])
    request = make_request()
    hybrid = HybridComposer(request, LlmComposer(request, client=fake.client()), min_confidence=0.5)

    result = await hybrid.compose(make_context())

    assert [i.instrument.symbol for i in result.instructions] == ["BTC-USDT"]


async def test_the_hybrid_composer_passes_on_a_skipped_llm_result() -> None:
    bad = BAD_REPLIES["text only"]
    fake = FakeMessagesAPI([bad, bad])
    request = make_request()
    hybrid = HybridComposer(request, LlmComposer(request, client=fake.client()))

    result = await hybrid.compose(make_context())

    assert result.instructions == []
    assert result.skipped_reason is not None and result.skipped_reason.startswith("llm_invalid:")
    assert result.raw is not None and result.raw["attempts"] == 2


def test_the_hybrid_composer_builds_its_own_llm_composer_and_checks_its_threshold() -> None:
    assert isinstance(HybridComposer(make_request()).llm_composer, LlmComposer)
    with pytest.raises(ConfigError, match="min_confidence"):
        HybridComposer(make_request(), min_confidence=1.5)


def test_trade_plan_is_frozen_and_strict() -> None:
    parsed = parse_plan(plan(item()))
    assert isinstance(parsed, TradePlan)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type is an implementation detail
        parsed.rationale = "changed"  # type: ignore[misc]
