"""The ``openai`` provider: any OpenAI-compatible chat completions API (OpenAI, OpenRouter,
DeepSeek, Groq, vLLM, a local Ollama at ``http://localhost:11434/v1``) through the official
``openai`` package, the plan as one forced ``submit_trade_plan`` function call.

The function's ``arguments`` arrive as a JSON string; they are parsed strictly (no NaN/Infinity)
and then validated exactly like Claude's tool input. Errors are translated as for Anthropic:
timeouts, connection failures, 408/409/429 and 5xx (after the SDK's retries) are
``TemporaryError``; 401/403, 404 and other 4xx are ``OperationalError``; never holding the key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from tradeloop.trading.decision.prompt_based.anthropic_api import (
    MAX_REPLY_TEXT_CHARS,
    RETRIED_STATUS,
    repair_feedback,
)
from tradeloop.trading.decision.prompt_based.plan import (
    PLAN_TOOL_NAME,
    InvalidPlan,
    TradePlan,
    parse_plan,
    plan_tool,
)
from tradeloop.trading.decision.prompt_based.providers import (
    count,
    redact,
    resolve_api_key,
    text_attr,
)
from tradeloop.trading.errors import OperationalError, TemporaryError, TradeloopError
from tradeloop.trading.models import LLMModelConfig

if TYPE_CHECKING:
    import httpx2
    import openai

MAX_ARGUMENT_CHARS = 100_000
NAME = "OpenAI-compatible API"


def build_client(
    cfg: LLMModelConfig, api_key: str, *, http_client: httpx2.AsyncClient | None = None
) -> openai.AsyncOpenAI:
    """An SDK client for ``cfg.base_url`` (default OpenAI's) that retries busy calls itself."""
    import openai  # lazy: SDK import costs ~1 s; only its strategies need it

    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=cfg.base_url,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout_s,
        http_client=http_client,
    )


def function_tool() -> dict[str, Any]:
    """The plan tool in chat completions' ``tools`` form (same name, description and schema)."""
    tool = plan_tool()
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool["description"],
            "parameters": tool["input_schema"],
        },
    }


class OpenAiProvider:
    def __init__(self, cfg: LLMModelConfig, client: Any = None, api_key: str | None = None) -> None:
        self._cfg = cfg
        self._client = client
        self._owns_client = False
        self._api_key = SecretStr(api_key) if api_key else None
        self._tools = [function_tool()]

    def first_messages(self, system: str, user: str) -> list[dict[str, Any]]:
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def send(self, messages: list[dict[str, Any]]) -> Any:
        import openai  # lazy: SDK import costs ~1 s; only its strategies need it

        client = self._ensure_client()
        try:
            return await client.chat.completions.create(
                model=self._cfg.model_id,
                messages=messages,
                tools=self._tools,
                tool_choice={"type": "function", "function": {"name": PLAN_TOOL_NAME}},
                timeout=self._cfg.timeout_s,
                **self._length_limit(),
            )
        except openai.OpenAIError as err:
            raise translate_error(err, self._cfg, self._secret()) from None
        except json.JSONDecodeError:
            raise TemporaryError(f"{NAME} returned a body that is not JSON") from None

    def _length_limit(self) -> dict[str, int]:
        """OpenAI's own API wants ``max_completion_tokens`` (reasoning models refuse
        ``max_tokens``); compatible servers (Ollama, vLLM, ...) read ``max_tokens``."""
        base = self._cfg.base_url
        if base is None or "api.openai.com" in base:
            return {"max_completion_tokens": self._cfg.max_tokens}
        return {"max_tokens": self._cfg.max_tokens}

    def read_plan(self, reply: Any) -> TradePlan:
        return read_plan(reply)

    def repair_turns(self, reply: Any, error: InvalidPlan) -> list[dict[str, Any]]:
        return repair_turns(reply, error)

    def payload(self, reply: Any) -> Any:
        calls = _calls(reply)
        if calls:
            arguments = _arguments_text(calls[0])
            try:
                return _strict_json(arguments)
            except ValueError:
                return arguments[:MAX_REPLY_TEXT_CHARS]
        return (_content_text(reply) or "")[:MAX_REPLY_TEXT_CHARS]

    def tokens(self, reply: Any) -> dict[str, int]:
        return reply_tokens(reply)

    def model(self, reply: Any) -> str | None:
        return text_attr(reply, "model")

    def stop_reason(self, reply: Any) -> str | None:
        choice = _choice(reply)
        return text_attr(choice, "finish_reason") if choice is not None else None

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


# --------------------------------------------------------------------------- reading replies


def reply_tokens(reply: Any) -> dict[str, int]:
    """Chat completions count cached input inside ``prompt_tokens``; split it out."""
    usage = getattr(reply, "usage", None)
    prompt = count(getattr(usage, "prompt_tokens", None))
    cached = count(getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0))
    cached = min(cached, prompt)
    return {
        "input_tokens": prompt - cached,
        "output_tokens": count(getattr(usage, "completion_tokens", None)),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def read_plan(reply: Any) -> TradePlan:
    """The plan in a chat completion, or ``InvalidPlan`` saying why there is none."""
    choice = _choice(reply)
    if choice is None:
        raise InvalidPlan(["the API response had no choices"])
    if text_attr(choice, "finish_reason") == "length":
        raise InvalidPlan(["reply was cut off at max_tokens; keep rationales short"])
    calls = _calls(reply)
    if not calls:
        raise InvalidPlan([_no_call_reason(reply)])
    if len(calls) > 1:
        raise InvalidPlan([f"{PLAN_TOOL_NAME} was called {len(calls)} times; call it exactly once"])
    name = getattr(getattr(calls[0], "function", None), "name", None)
    if name != PLAN_TOOL_NAME:
        raise InvalidPlan([f"called tool {str(name)[:40]!r}; the only tool is {PLAN_TOOL_NAME}"])
    try:
        arguments = _strict_json(_arguments_text(calls[0]))
    except ValueError as exc:
        raise InvalidPlan([f"the {PLAN_TOOL_NAME} arguments are not valid JSON: {exc}"]) from None
    return parse_plan(arguments)


def _choice(reply: Any) -> Any:
    choices = getattr(reply, "choices", None)
    return choices[0] if isinstance(choices, list) and choices else None


def _message(reply: Any) -> Any:
    choice = _choice(reply)
    return getattr(choice, "message", None) if choice is not None else None


def _calls(reply: Any) -> list[Any]:
    calls = getattr(_message(reply), "tool_calls", None)
    return [c for c in calls if getattr(c, "function", None) is not None] if calls else []


def _content_text(reply: Any) -> str | None:
    return text_attr(_message(reply), "content")


def _no_call_reason(reply: Any) -> str:
    message = _message(reply)
    if text_attr(message, "refusal"):
        return f"the model refused and did not call {PLAN_TOOL_NAME}"
    if (_content_text(reply) or "").strip():
        return f"replied with text instead of calling {PLAN_TOOL_NAME}"
    return f"empty reply; call {PLAN_TOOL_NAME}"


def _arguments_text(call: Any) -> str:
    arguments = getattr(getattr(call, "function", None), "arguments", None)
    return arguments if isinstance(arguments, str) else ""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _strict_json(text: str) -> Any:
    """``json.loads`` without NaN/Infinity and with a size limit; ValueError otherwise."""
    if len(text) > MAX_ARGUMENT_CHARS:
        raise ValueError(f"{len(text)} characters, more than {MAX_ARGUMENT_CHARS}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at character {exc.pos}") from None


# --------------------------------------------------------------------------- the repair turn


def repair_turns(reply: Any, error: InvalidPlan) -> list[dict[str, Any]]:
    """The assistant's message as sent (its calls included), then one ``tool`` message per call
    with the validation errors, or a user message when there was no call."""
    feedback = repair_feedback(error)
    calls = _calls(reply)
    text = _content_text(reply)
    assistant: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        assistant["tool_calls"] = [
            {
                "id": str(getattr(c, "id", "") or f"call_{i}"),
                "type": "function",
                "function": {
                    "name": str(getattr(c.function, "name", "")),
                    "arguments": _arguments_text(c)[:MAX_ARGUMENT_CHARS] or "{}",
                },
            }
            for i, c in enumerate(calls)
        ]
        answers = [
            {"role": "tool", "tool_call_id": call["id"], "content": feedback}
            for call in assistant["tool_calls"]
        ]
        return [assistant, *answers]
    turns = [assistant] if text else []
    return [*turns, {"role": "user", "content": feedback}]


# --------------------------------------------------------------------------- errors


def translate_error(
    err: openai.OpenAIError, cfg: LLMModelConfig, api_key: str | None = None
) -> TradeloopError:
    """The tradeloop error for an SDK failure, with a short message that never holds the key."""
    import openai  # lazy: SDK import costs ~1 s; only its strategies need it

    if isinstance(err, openai.APITimeoutError):
        return TemporaryError(f"{NAME} timed out after {cfg.max_retries} retries")
    if isinstance(err, openai.APIConnectionError):
        where = f" at {cfg.base_url}" if cfg.base_url else ""
        return TemporaryError(f"{NAME}{where} unreachable after {cfg.max_retries} retries")
    if isinstance(err, openai.APIResponseValidationError):
        return TemporaryError(f"{NAME} returned a malformed response")
    if not isinstance(err, openai.APIStatusError):
        return OperationalError(f"{NAME} client error: {type(err).__name__}")
    status, detail = err.status_code, redact(_error_detail(err), api_key)
    if status in RETRIED_STATUS or status >= 500:
        return TemporaryError(f"{NAME} busy after {cfg.max_retries} retries: {detail}")
    if status in (401, 403):
        return OperationalError(f"{NAME} rejected the API key ({cfg.api_key_env}): {detail}")
    if status == 404:
        return OperationalError(f"{NAME} model {cfg.model_id!r} not found: {detail}")
    return OperationalError(f"{NAME} rejected the request: {detail}")


def _error_detail(err: openai.APIStatusError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    error = body.get("error", body)
    error = error if isinstance(error, dict) else {}
    kind = str(error.get("type") or error.get("code") or "error")
    message = str(error.get("message") or "")[:200]
    return f"HTTP {err.status_code} {kind}" + (f": {message}" if message else "")
