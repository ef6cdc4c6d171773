"""A scripted Anthropic Messages API at the HTTP boundary (``httpx2.MockTransport``).

Each scripted step is a real Messages API response body (a dict, sent as JSON), an
``httpx2.Response`` (errors, odd bodies) or an exception to raise (timeouts, connection errors).
Every request is recorded, parsed, so tests can assert what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import anthropic
import httpx2

SENTINEL_KEY = "sk-test-SENTINEL"
PLAN_TOOL = "submit_trade_plan"
Step = dict[str, Any] | httpx2.Response | Exception


class FakeMessagesAPI:
    def __init__(self, steps: Iterable[Step] = ()) -> None:
        self.steps: list[Step] = list(steps)
        self.requests: list[httpx2.Request] = []

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"unscripted request #{len(self.requests)} to {request.url}")
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx2.Response):
            return step
        return json_response(200, step)

    def client(
        self, *, max_retries: int = 0, api_key: str = SENTINEL_KEY
    ) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=api_key,
            http_client=self.http_client(),
            max_retries=max_retries,
        )

    def http_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler))


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    """``json.dumps`` keeps NaN/Infinity literals, as a misbehaving server might send them."""
    all_headers = {"content-type": "application/json", "request-id": "req_fake"} | (headers or {})
    return httpx2.Response(status, content=json.dumps(body).encode(), headers=all_headers)


def message(
    content: list[dict[str, Any]],
    *,
    stop_reason: str = "tool_use",
    model: str = "claude-sonnet-4-5-20250929",
    input_tokens: int = 1200,
    output_tokens: int = 150,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    msg_id: str = "msg_01Fake",
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
        },
    }


def tool_use(tool_input: Any, *, name: str = PLAN_TOOL, block_id: str = "toolu_01Fake") -> dict:
    return {"type": "tool_use", "id": block_id, "name": name, "input": tool_input}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def plan_reply(tool_input: Any, **kwargs: Any) -> dict[str, Any]:
    return message([tool_use(tool_input)], **kwargs)


def api_error(status: int, error_type: str, msg: str, **headers: str) -> httpx2.Response:
    body = {"type": "error", "error": {"type": error_type, "message": msg}}
    return json_response(status, body, headers)


def rate_limited() -> httpx2.Response:
    return api_error(
        429, "rate_limit_error", "Number of requests exceeded", **{"retry-after-ms": "1"}
    )


def overloaded() -> httpx2.Response:
    return api_error(529, "overloaded_error", "Overloaded", **{"retry-after-ms": "1"})
