"""The same composer contract over every provider: the OpenAI-compatible API through its wire-format
fake (valid plans trade, every bad reply of the corpus trades nothing after one repair, repair,
cost), base URLs, keyless local servers and the key check."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2
import pytest

from tests.decision.fake_anthropic import SENTINEL_KEY, FakeMessagesAPI, plan_reply
from tests.decision.fake_openai import (
    FakeChatAPI,
    api_error,
    chat_completion_from,
    completion,
    plan_completion,
)
from tests.decision.test_llm_composer import BAD_REPLIES, item, make_context, plan
from tradeloop.trading.decision.prompt_based import LlmComposer
from tradeloop.trading.decision.prompt_based.providers import (
    KEYLESS_PLACEHOLDER,
    is_local,
    key_error,
    resolve_api_key,
)
from tradeloop.trading.errors import OperationalError, TemporaryError
from tradeloop.trading.models import (
    ExchangeConfig,
    LLMModelConfig,
    MarketType,
    TradeAction,
    TradingConfig,
    UserRequest,
)

GPT = "gpt-4.1-mini"


def openai_request(**llm: Any) -> UserRequest:
    cfg = {"provider": "openai", "model_id": GPT, "max_retries": 0, "timeout_s": 5} | llm
    return UserRequest(
        llm_model_config=LLMModelConfig.model_validate(cfg),
        exchange_config=ExchangeConfig(market_type=MarketType.PERPETUAL),
        trading_config=TradingConfig(
            initial_capital=10_000,
            symbols=["BTC-USDT", "ETH-USDT"],
            max_leverage=3,
            composer="llm",
        ),
    )


def composer_for(fake: FakeChatAPI, *, max_retries: int = 0, **llm: Any) -> LlmComposer:
    return LlmComposer(openai_request(**llm), client=fake.client(max_retries=max_retries))


def feedback_of(body: dict[str, Any]) -> str:
    """The repair turn's text: the tool / user messages after the first request's two."""
    return " ".join(
        str(m.get("content") or "") for m in body["messages"][2:] if m["role"] in ("tool", "user")
    )


# --------------------------------------------------------------------------- valid plans


async def test_an_openai_plan_becomes_the_same_instructions_as_a_claude_plan() -> None:
    reply = plan(item(), item(symbol="ETH-USDT", action="close_short", quantity=0.5, leverage=1))
    claude = await LlmComposer(
        openai_request().model_copy(update={"llm_model_config": LLMModelConfig(max_retries=0)}),
        client=FakeMessagesAPI([plan_reply(reply)]).client(),
    ).compose(make_context())
    fake = FakeChatAPI([plan_completion(reply)])

    result = await composer_for(fake).compose(make_context())

    assert result.skipped_reason is None and result.rationale == "trend is up"
    assert [(i.action, i.quantity, i.leverage, i.stop_loss) for i in result.instructions] == [
        (TradeAction.OPEN_LONG, 0.01, 2.0, 95_000),
        (TradeAction.CLOSE_SHORT, 0.5, 1.0, 95_000),
    ]
    assert result.instructions == claude.instructions
    assert result.raw is not None and result.raw["provider"] == "openai"
    assert result.raw["reply"] == reply and result.raw["attempts"] == 1


async def test_the_request_forces_one_function_call_with_the_plan_schema() -> None:
    fake = FakeChatAPI([plan_completion(plan())])
    await composer_for(fake).compose(make_context())

    (request,) = fake.requests
    assert request.url.path == "/v1/chat/completions"
    (body,) = fake.bodies
    assert body["model"] == GPT
    assert body["tool_choice"] == {"type": "function", "function": {"name": "submit_trade_plan"}}
    (tool,) = body["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "submit_trade_plan"
    assert tool["function"]["parameters"]["additionalProperties"] is False
    system, user = body["messages"]
    assert system["role"] == "system" and "submit_trade_plan" in system["content"]
    assert user["role"] == "user"
    json.loads(user["content"])
    assert body["max_completion_tokens"] == LLMModelConfig().max_tokens


async def test_a_compatible_server_gets_its_base_url_and_max_tokens() -> None:
    fake = FakeChatAPI([plan_completion(plan())])
    request = openai_request(base_url="http://localhost:11434/v1", model_id="llama3.1:8b")
    client = fake.client(base_url="http://localhost:11434/v1")

    await LlmComposer(request, client=client).compose(make_context())

    assert str(fake.requests[0].url) == "http://localhost:11434/v1/chat/completions"
    assert fake.bodies[0]["max_tokens"] == LLMModelConfig().max_tokens


async def test_the_anthropic_provider_sends_to_its_base_url() -> None:
    fake = FakeMessagesAPI([plan_reply(plan())])
    cfg = LLMModelConfig(base_url="https://claude-proxy.example/anthropic", max_retries=0)
    from tradeloop.trading.decision.prompt_based.anthropic_api import build_client

    client = build_client(cfg, SENTINEL_KEY, http_client=fake.http_client())
    request = openai_request().model_copy(update={"llm_model_config": cfg})
    await LlmComposer(request, client=client).compose(make_context())
    assert str(fake.requests[0].url) == "https://claude-proxy.example/anthropic/v1/messages"


# --------------------------------------------------------------------------- the bad-reply corpus


def test_the_corpus_translates_to_chat_completions_faithfully() -> None:
    text_only = chat_completion_from(BAD_REPLIES["text only"])["choices"][0]
    assert text_only["message"]["content"] == "I would buy some BTC here."
    assert text_only["finish_reason"] == "stop" and "tool_calls" not in text_only["message"]
    two = chat_completion_from(BAD_REPLIES["two plan calls"])["choices"][0]["message"]
    assert [c["id"] for c in two["tool_calls"]] == ["call_a", "call_b"]
    assert chat_completion_from(BAD_REPLIES["content is null"])["choices"] == []
    nan = chat_completion_from(BAD_REPLIES["quantity NaN"])["choices"][0]["message"]
    assert "NaN" in nan["tool_calls"][0]["function"]["arguments"]


@pytest.mark.parametrize("bad", list(BAD_REPLIES.values()), ids=list(BAD_REPLIES))
async def test_every_bad_reply_over_openai_gives_no_instructions_after_one_repair(
    bad: dict[str, Any],
) -> None:
    wire = chat_completion_from(bad)
    fake = FakeChatAPI([wire, wire])

    result = await composer_for(fake).compose(make_context())

    assert result.instructions == [] and result.adjustments == []
    assert result.skipped_reason is not None and result.skipped_reason.startswith("llm_invalid: ")
    assert result.raw is not None and result.raw["attempts"] == 2 and len(fake.requests) == 2
    assert result.raw["errors"][0][0] in feedback_of(fake.bodies[1])
    json.dumps(result.raw, allow_nan=False)


async def test_a_bad_function_call_is_repaired_with_a_tool_message() -> None:
    bad = plan_completion(plan(item(quantity=-1)))
    good = plan_completion(plan(item(quantity=0.02), rationale="repaired"))
    fake = FakeChatAPI([bad, good])

    result = await composer_for(fake).compose(make_context())

    assert [i.quantity for i in result.instructions] == [0.02] and result.rationale == "repaired"
    system, user, assistant, tool = fake.bodies[1]["messages"]
    assert (system, user) == tuple(fake.bodies[0]["messages"])
    (call,) = assistant["tool_calls"]
    assert call["id"] == "call_fake" and json.loads(call["function"]["arguments"])["items"]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_fake"
    assert "items.0.quantity" in tool["content"]


async def test_a_text_reply_is_repaired_with_a_user_message() -> None:
    fake = FakeChatAPI([chat_completion_from(BAD_REPLIES["text only"]), plan_completion(plan())])
    result = await composer_for(fake).compose(make_context())
    assert result.skipped_reason is None
    _, _, assistant, repair = fake.bodies[1]["messages"]
    assert assistant == {"role": "assistant", "content": "I would buy some BTC here."}
    assert repair["role"] == "user" and "instead of calling submit_trade_plan" in repair["content"]


# --------------------------------------------------------------------------- usage and cost


async def test_usage_splits_cached_input_and_cost_comes_from_the_price_table() -> None:
    bad = completion({"role": "assistant", "content": "hmm"}, finish_reason="stop")
    bad["usage"] |= {"prompt_tokens": 2000, "completion_tokens": 30}
    bad["usage"]["prompt_tokens_details"]["cached_tokens"] = 0
    good = plan_completion(
        plan(item()), prompt_tokens=2100, completion_tokens=120, cached_tokens=1500
    )
    fake = FakeChatAPI([bad, good])

    usage = (await composer_for(fake).compose(make_context())).usage

    assert usage is not None and usage.model == "gpt-4.1-mini-2025-04-14"
    assert (usage.input_tokens, usage.cache_read_input_tokens) == (2000 + 600, 1500)
    assert (usage.output_tokens, usage.cache_creation_input_tokens) == (150, 0)
    expected = (2600 * 0.40 + 1500 * 0.10 + 150 * 1.60) / 1_000_000  # gpt-4.1-mini list prices
    assert usage.cost_usd == pytest.approx(expected)


async def test_an_unknown_model_costs_unknown_and_a_strategy_price_overrides_the_table() -> None:
    reply = plan_completion(plan(), model="my-finetune", prompt_tokens=1000, completion_tokens=100)
    unknown = await composer_for(FakeChatAPI([reply]), model_id="my-finetune").compose(
        make_context()
    )
    assert unknown.usage is not None and unknown.usage.cost_usd is None

    priced = await composer_for(
        FakeChatAPI([reply]), model_id="my-finetune", price={"input": 1.0, "output": 2.0}
    ).compose(make_context())
    assert priced.usage is not None
    assert priced.usage.cost_usd == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1_000_000)


# --------------------------------------------------------------------------- failures and keys


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (401, "invalid_request_error", "rejected the API key \\(OPENAI_API_KEY\\)"),
        (404, "invalid_request_error", "model 'gpt-4.1-mini' not found"),
        (400, "invalid_request_error", "rejected the request"),
    ],
)
async def test_credential_model_and_request_errors_raise_operational_error(
    status: int, error: str, match: str
) -> None:
    fake = FakeChatAPI([api_error(status, error, "nope")])
    with pytest.raises(OperationalError, match=match):
        await composer_for(fake).compose(make_context())


async def test_busy_and_unreachable_servers_raise_temporary_error() -> None:
    busy = FakeChatAPI([api_error(429, "rate_limit", "slow down", **{"retry-after-ms": "1"})] * 2)
    with pytest.raises(TemporaryError, match="HTTP 429"):
        await composer_for(busy, max_retries=1).compose(make_context())
    assert len(busy.requests) == 2
    request = httpx2.Request("POST", "http://localhost:11434/v1/chat/completions")
    down = FakeChatAPI([httpx2.ConnectError("connection refused", request=request)])
    with pytest.raises(TemporaryError, match="unreachable"):
        await composer_for(down).compose(make_context())


async def test_the_openai_key_never_appears_in_raw_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echoing = api_error(401, "invalid_request_error", f"Incorrect API key provided: {SENTINEL_KEY}")
    fake = FakeChatAPI([plan_completion(plan(item())), echoing])
    composer = LlmComposer(openai_request(), api_key=SENTINEL_KEY, client=fake.client())
    result = await composer.compose(make_context())
    with pytest.raises(OperationalError) as caught:
        await composer.compose(make_context())
    texts = [
        json.dumps(result.raw),
        result.model_dump_json(),
        repr(caught.value),
        str(caught.value),
    ]
    texts += [r.getMessage() for r in caplog.records]
    assert any(SENTINEL_KEY in v for v in fake.requests[0].headers.values())
    assert not [t for t in texts if SENTINEL_KEY in t]


def test_a_local_base_url_needs_no_key_and_a_remote_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    local = openai_request(base_url="http://localhost:11434/v1").llm_model_config
    remote = openai_request(base_url="https://openrouter.ai/api/v1").llm_model_config
    assert is_local(local.base_url) and not is_local(remote.base_url)
    assert key_error(local) is None and resolve_api_key(local) == KEYLESS_PLACEHOLDER
    error = key_error(remote)
    assert error is not None and "OPENAI_API_KEY is not set" in error and "openrouter" in error
    with pytest.raises(OperationalError, match="OPENAI_API_KEY is not set"):
        resolve_api_key(remote)
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL_KEY)
    assert key_error(remote) is None


def test_the_config_names_the_key_variable_per_provider_and_refuses_trading_secrets() -> None:
    assert LLMModelConfig().api_key_env == "ANTHROPIC_API_KEY"
    assert openai_request().llm_model_config.api_key_env == "OPENAI_API_KEY"
    router = LLMModelConfig.model_validate(
        {"provider": "openai", "model": "openai/gpt-4.1-mini", "api_key_env": "OPENROUTER_API_KEY"}
    )
    assert router.api_key_env == "OPENROUTER_API_KEY"
    for name in ("TRADELOOP_MAIN_API_KEY", "TRADELOOP_MAIN_SECRET", "AWS_SECRET_ACCESS_KEY"):
        with pytest.raises(ValueError, match="api_key_env"):
            LLMModelConfig(api_key_env=name)
    with pytest.raises(ValueError, match="model_id: required for provider 'openai'"):
        LLMModelConfig.model_validate({"provider": "openai"})
