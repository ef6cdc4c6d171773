"""A scripted OpenAI-compatible chat completions API at the HTTP boundary (``httpx2.MockTransport``).

Steps are chat completion bodies (dicts, sent as JSON), ``httpx2.Response`` objects or exceptions,
as in ``fake_anthropic``. ``chat_completion_from`` translates a Messages API reply of the bad-reply
corpus into the same reply in chat completions' wire format, so the whole corpus runs against
both providers.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai

from tests.decision.fake_anthropic import SENTINEL_KEY, FakeMessagesAPI

PLAN_TOOL = "submit_trade_plan"
_FINISH = {"tool_use": "tool_calls", "end_turn": "stop", "max_tokens": "length", "refusal": "stop"}


class FakeChatAPI(FakeMessagesAPI):
    """Same scripting and recording as the Messages fake; an ``openai`` client on top."""

    def client(  # type: ignore[override]
        self, *, max_retries: int = 0, api_key: str = SENTINEL_KEY, base_url: str | None = None
    ) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            http_client=self.http_client(),
            max_retries=max_retries,
        )


def completion(
    message: dict[str, Any],
    *,
    finish_reason: str = "tool_calls",
    model: str = "gpt-4.1-mini-2025-04-14",
    prompt_tokens: int = 1200,
    completion_tokens: int = 150,
    cached_tokens: int = 0,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def function_call(arguments: Any, *, name: str = PLAN_TOOL, call_id: str = "call_fake") -> dict:
    """A tool call; ``arguments`` that are not a string are sent as ``json.dumps`` (NaN kept)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def plan_completion(arguments: Any, **kwargs: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": None, "tool_calls": [function_call(arguments)]}
    return completion(message, **kwargs)


def chat_completion_from(reply: dict[str, Any]) -> dict[str, Any]:
    """The chat completions form of a Messages API reply: text blocks become ``content``,
    ``tool_use`` blocks become function calls, the stop reason the matching finish reason."""
    usage = reply["usage"]
    prompt = (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
    )
    base = completion(
        {},
        model=reply["model"],
        prompt_tokens=prompt,
        completion_tokens=usage["output_tokens"],
        cached_tokens=usage["cache_read_input_tokens"],
        finish_reason=_FINISH[reply["stop_reason"]],
    )
    if reply["content"] is None:
        return base | {"choices": []}
    blocks = reply["content"]
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    calls = [
        function_call(b["input"], name=b["name"], call_id=b["id"].replace("toolu", "call"))
        for b in blocks
        if b["type"] == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    if reply["stop_reason"] == "refusal":
        message["refusal"] = "I can't help with trading decisions."
    base["choices"][0]["message"] = message
    return base


def api_error(status: int, error_type: str, msg: str, **headers: str) -> httpx2.Response:
    body = {"error": {"message": msg, "type": error_type, "param": None, "code": None}}
    all_headers = {"content-type": "application/json"} | headers
    return httpx2.Response(status, content=json.dumps(body).encode(), headers=all_headers)
