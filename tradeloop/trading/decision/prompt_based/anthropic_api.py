"""The ``anthropic`` provider: Claude (or an Anthropic-compatible ``base_url``) through the Messages
API, the plan as one forced ``submit_trade_plan`` tool call, the system prompt prompt-cached.

Errors, translated once here from the SDK (which already retried 408/409/429/5xx/529 and
connection failures ``max_retries`` times):

- timeouts, connection failures, 408/409/429, 5xx, 529 overloaded -> ``TemporaryError``
- 401/403 credentials, 404 unknown model, other 4xx, missing API key -> ``OperationalError``
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from tradeloop.trading.decision.prompt_based.plan import (
    PLAN_TOOL_NAME,
    InvalidPlan,
    TradePlan,
    parse_plan,
    plan_tool,
)
from tradeloop.trading.decision.prompt_based.providers import (
    TOKEN_FIELDS,
    count,
    json_safe,
    redact,
    resolve_api_key,
    text_attr,
)
from tradeloop.trading.errors import OperationalError, TemporaryError, TradeloopError
from tradeloop.trading.models import LLMModelConfig

if TYPE_CHECKING:
    import anthropic
    import httpx2

MAX_REPLY_TEXT_CHARS = 4000
FORCED_TOOL_CHOICE_REJECTED = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-fable-5-1")
"""Models that answer a forced ``tool_choice`` with HTTP 400; they get ``auto`` plus the prompt's
"call submit_trade_plan exactly once", and a reply without the call is repaired like any other."""
RETRIED_STATUS = (408, 409, 429)


def build_client(
    cfg: LLMModelConfig, api_key: str, *, http_client: httpx2.AsyncClient | None = None
) -> anthropic.AsyncAnthropic:
    """An SDK client that retries busy/overloaded/failed calls itself, each within the timeout."""
    import anthropic  # lazy: SDK import costs ~1 s; only its strategies need it

    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=cfg.base_url,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout_s,
        http_client=http_client,
    )


class AnthropicProvider:
    def __init__(
        self, cfg: LLMModelConfig, system: str, client: Any = None, api_key: str | None = None
    ) -> None:
        self._cfg = cfg
        self._system = system
        self._client = client
        self._owns_client = False
        self._api_key = SecretStr(api_key) if api_key else None
        self._tools = [plan_tool()]

    def first_messages(self, system: str, user: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": user}]

    async def send(self, messages: list[dict[str, Any]]) -> Any:
        import anthropic  # lazy: SDK import costs ~1 s; only its strategies need it

        client = self._ensure_client()
        try:
            return await client.messages.create(
                model=self._cfg.model_id,
                max_tokens=self._cfg.max_tokens,
                system=[
                    {"type": "text", "text": self._system, "cache_control": {"type": "ephemeral"}}
                ],
                messages=messages,
                tools=self._tools,
                tool_choice=self._tool_choice(),
                timeout=self._cfg.timeout_s,
            )
        except anthropic.AnthropicError as err:
            raise translate_error(err, self._cfg, self._secret()) from None
        except json.JSONDecodeError:
            raise TemporaryError("Anthropic API returned a body that is not JSON") from None

    def read_plan(self, reply: Any) -> TradePlan:
        return read_plan(reply)

    def repair_turns(self, reply: Any, error: InvalidPlan) -> list[dict[str, Any]]:
        return repair_turns(reply, error)

    def payload(self, reply: Any) -> Any:
        calls = _tool_uses(reply)
        if calls:
            return getattr(calls[0], "input", None)
        return "\n".join(_texts(reply))[:MAX_REPLY_TEXT_CHARS]

    def tokens(self, reply: Any) -> dict[str, int]:
        return reply_tokens(reply)

    def model(self, reply: Any) -> str | None:
        return text_attr(reply, "model")

    def stop_reason(self, reply: Any) -> str | None:
        return text_attr(reply, "stop_reason")

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None

    def _ensure_client(self) -> Any:
        if self._client is None:
            self._client = build_client(self._cfg, resolve_api_key(self._cfg, self._secret()))
            self._owns_client = True
        return self._client

    def _secret(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key else None

    def _tool_choice(self) -> dict[str, Any]:
        model = self._cfg.model_id
        if any(model == p or model.startswith(f"{p}-") for p in FORCED_TOOL_CHOICE_REJECTED):
            return {"type": "auto", "disable_parallel_tool_use": True}
        return {"type": "tool", "name": PLAN_TOOL_NAME, "disable_parallel_tool_use": True}


# --------------------------------------------------------------------------- reading replies


def reply_tokens(reply: Any) -> dict[str, int]:
    usage = getattr(reply, "usage", None)
    return {field: count(getattr(usage, field, None)) for field in TOKEN_FIELDS}


def read_plan(reply: Any) -> TradePlan:
    """The plan in a Messages API reply, or ``InvalidPlan`` saying why there is none."""
    calls = _tool_uses(reply)
    if text_attr(reply, "stop_reason") == "max_tokens":
        raise InvalidPlan(["reply was cut off at max_tokens; keep rationales short"])
    if not calls:
        raise InvalidPlan([_no_call_reason(reply)])
    if len(calls) > 1:
        raise InvalidPlan([f"{PLAN_TOOL_NAME} was called {len(calls)} times; call it exactly once"])
    name = getattr(calls[0], "name", None)
    if name != PLAN_TOOL_NAME:
        raise InvalidPlan([f"called tool {str(name)[:40]!r}; the only tool is {PLAN_TOOL_NAME}"])
    return parse_plan(getattr(calls[0], "input", None))


def _no_call_reason(reply: Any) -> str:
    if not isinstance(getattr(reply, "content", None), list):
        return "the API response had no content list"
    if text_attr(reply, "stop_reason") == "refusal":
        return f"the model refused and did not call {PLAN_TOOL_NAME}"
    if _texts(reply):
        return f"replied with text instead of calling {PLAN_TOOL_NAME}"
    return f"empty reply; call {PLAN_TOOL_NAME}"


def _blocks(reply: Any) -> list[Any]:
    content = getattr(reply, "content", None)
    return list(content) if isinstance(content, list) else []


def _tool_uses(reply: Any) -> list[Any]:
    return [b for b in _blocks(reply) if getattr(b, "type", None) == "tool_use"]


def _texts(reply: Any) -> list[str]:
    return [
        b.text
        for b in _blocks(reply)
        if getattr(b, "type", None) == "text" and isinstance(getattr(b, "text", None), str)
    ]


# --------------------------------------------------------------------------- the repair turn


def repair_feedback(error: InvalidPlan) -> str:
    """What the repair turn tells the model, for every provider."""
    return (
        f"The trade plan was rejected: {error}. Call {PLAN_TOOL_NAME} exactly once with a "
        "corrected plan that matches its input schema. If unsure, use action hold."
    )


def repair_turns(reply: Any, error: InvalidPlan) -> list[dict[str, Any]]:
    """The assistant's reply as sent, then the validation errors as a tool result (or text)."""
    feedback = repair_feedback(error)
    calls = _tool_uses(reply)
    if calls:
        content: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": str(c.id), "is_error": True, "content": feedback}
            for c in calls
        ]
    else:
        content = [{"type": "text", "text": feedback}]
    assistant = [p for p in (_block_param(b) for b in _blocks(reply)) if p is not None]
    turns = [{"role": "assistant", "content": assistant}] if assistant else []
    return [*turns, {"role": "user", "content": content}]


def _block_param(block: Any) -> dict[str, Any] | None:
    """A reply block as a request block, unchanged except a non-object tool input becomes {}."""
    kind = getattr(block, "type", None)
    if kind == "tool_use":
        tool_input = getattr(block, "input", None)
        return {
            "type": "tool_use",
            "id": str(block.id),
            "name": str(getattr(block, "name", "")),
            "input": json_safe(tool_input) if isinstance(tool_input, dict) else {},
        }
    if kind == "text":
        return {"type": "text", "text": str(getattr(block, "text", ""))}
    if kind == "thinking":
        fields = ("thinking", "signature")
        return {"type": kind, **{f: str(getattr(block, f, "")) for f in fields}}
    if kind == "redacted_thinking":
        return {"type": kind, "data": str(getattr(block, "data", ""))}
    return None


# --------------------------------------------------------------------------- errors


def translate_error(
    err: anthropic.AnthropicError, cfg: LLMModelConfig, api_key: str | None = None
) -> TradeloopError:
    """The tradeloop error for an SDK failure, with a short message that never holds the key."""
    import anthropic  # lazy: SDK import costs ~1 s; only its strategies need it

    if isinstance(err, anthropic.APITimeoutError):
        return TemporaryError(f"Anthropic API timed out after {cfg.max_retries} retries")
    if isinstance(err, anthropic.APIConnectionError):
        return TemporaryError(f"Anthropic API unreachable after {cfg.max_retries} retries")
    if not isinstance(err, anthropic.APIStatusError):
        return OperationalError(f"Anthropic client error: {type(err).__name__}")
    status, detail = err.status_code, redact(_error_detail(err), api_key)
    if status in RETRIED_STATUS or status >= 500:
        return TemporaryError(f"Anthropic API busy after {cfg.max_retries} retries: {detail}")
    if status in (401, 403):
        return OperationalError(f"Anthropic rejected the API key ({cfg.api_key_env}): {detail}")
    if status == 404:
        return OperationalError(f"Anthropic model {cfg.model_id!r} not found: {detail}")
    return OperationalError(f"Anthropic rejected the request: {detail}")


def _error_detail(err: anthropic.APIStatusError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    kind = str(error.get("type") or "error")
    message = str(error.get("message") or "")[:200]
    return f"HTTP {err.status_code} {kind}" + (f": {message}" if message else "")
