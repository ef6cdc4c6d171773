"""LlmComposer: Claude reads the cycle's context and proposes a trade plan through one tool call.

Code, not the model, decides what is sent: the reply must be a ``submit_trade_plan`` call whose
input passes ``TradePlan`` validation. An invalid reply gets one repair turn (the validation
errors go back as an ``is_error`` tool result); if that is invalid too, the result has no
instructions and ``skipped_reason="llm_invalid: ..."``. The guardrails run on whatever comes out.

Errors, translated once here from the SDK (which already retried 408/409/429/5xx/529 and
connection failures ``max_retries`` times):

- timeouts, connection failures, 408/409/429, 5xx, 529 overloaded -> ``TemporaryError``
- 401/403 credentials, 404 unknown model, other 4xx, missing API key -> ``OperationalError``

The API key is never logged, stored in ``raw`` or put into an error message.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.prompt_based.context_json import render_context
from tradeloop.trading.decision.prompt_based.plan import (
    PLAN_TOOL_NAME,
    InvalidPlan,
    TradePlan,
    parse_plan,
    plan_to_instructions,
    plan_tool,
)
from tradeloop.trading.decision.prompt_based.pricing import cost_usd
from tradeloop.trading.decision.prompt_based.system_prompt import render_system_prompt
from tradeloop.trading.errors import (
    ConfigError,
    OperationalError,
    TemporaryError,
    TradeloopError,
)
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    LLMModelConfig,
    LLMUsage,
    UserRequest,
)

if TYPE_CHECKING:
    import anthropic
    import httpx2

logger = logging.getLogger(__name__)

MAX_REPLY_TEXT_CHARS = 4000
MAX_SKIPPED_REASON_CHARS = 200
FORCED_TOOL_CHOICE_REJECTED = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-fable-5-1")
"""Models that answer a forced ``tool_choice`` with HTTP 400; they get ``auto`` plus the prompt's
"call submit_trade_plan exactly once", and a reply without the call is repaired like any other."""
_RETRIED_STATUS = (408, 409, 429)


def resolve_api_key(cfg: LLMModelConfig, api_key: str | None = None) -> str:
    """The explicit key (server config) or ``os.environ[cfg.api_key_env]``."""
    key = api_key or os.environ.get(cfg.api_key_env, "")
    if not key.strip():
        raise OperationalError(
            f"{cfg.api_key_env} is not set: export it, or set the Anthropic API key in the "
            "server config, to use the llm composer"
        )
    return key.strip()


def build_client(
    cfg: LLMModelConfig, api_key: str, *, http_client: httpx2.AsyncClient | None = None
) -> anthropic.AsyncAnthropic:
    """An SDK client that retries busy/overloaded/failed calls itself, each within the timeout."""
    import anthropic

    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=cfg.base_url,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout_s,
        http_client=http_client,
    )


@dataclass(frozen=True, slots=True)
class _Attempt:
    reply: Any
    latency_ms: int
    plan: TradePlan | None
    error: InvalidPlan | None


class LlmComposer(BaseComposer):
    def __init__(
        self,
        request: UserRequest,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        api_key: str | None = None,
    ) -> None:
        cfg = request.llm_model_config
        if cfg.provider != "anthropic":
            raise ConfigError(
                f"llm_model_config.provider {cfg.provider!r} is not supported by LlmComposer, "
                "which speaks the Anthropic Messages API"
            )
        self.request = request
        self._cfg = cfg
        self._client = client
        self._owns_client = False
        self._api_key = SecretStr(api_key) if api_key else None
        self._system = render_system_prompt(request)
        self._tools = [plan_tool()]

    async def compose(self, context: ComposeContext) -> ComposeResult:
        user = render_context(context)
        messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
        attempts = [await self._attempt(messages)]
        if attempts[0].error is not None:
            logger.warning(
                "llm reply invalid, asking once for a repair strategy_id=%s compose_id=%s reason=%s",
                context.strategy_id,
                context.compose_id,
                attempts[0].error.short,
            )
            messages.extend(_repair_turns(attempts[0].reply, attempts[0].error))
            attempts.append(await self._attempt(messages))
        return self._result(context, user, attempts)

    async def close(self) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this composer created it."""
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None

    async def _attempt(self, messages: list[dict[str, Any]]) -> _Attempt:
        started = time.monotonic()
        reply = await self._create(messages)
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            return _Attempt(reply, latency_ms, read_plan(reply), None)
        except InvalidPlan as err:
            return _Attempt(reply, latency_ms, None, err)

    async def _create(self, messages: list[dict[str, Any]]) -> Any:
        import anthropic

        client = self._ensure_client()
        try:
            return await client.messages.create(  # type: ignore[call-overload]
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

    def _ensure_client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = build_client(self._cfg, resolve_api_key(self._cfg, self._secret()))
            self._owns_client = True
        return self._client

    def _secret(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key else None

    def _tool_choice(self) -> dict[str, Any]:
        if _matches(self._cfg.model_id, FORCED_TOOL_CHOICE_REJECTED):
            return {"type": "auto", "disable_parallel_tool_use": True}
        return {"type": "tool", "name": PLAN_TOOL_NAME, "disable_parallel_tool_use": True}

    def _result(
        self, context: ComposeContext, user: str, attempts: list[_Attempt]
    ) -> ComposeResult:
        last = attempts[-1]
        usage = self._usage(attempts)
        raw = self._raw(user, attempts)
        _log_outcome(context, last, usage, len(attempts))
        if last.plan is None:
            reason = f"llm_invalid: {last.error.short if last.error else 'invalid plan'}"
            return ComposeResult(
                skipped_reason=reason[:MAX_SKIPPED_REASON_CHARS], raw=raw, usage=usage
            )
        return ComposeResult(
            instructions=plan_to_instructions(last.plan, context),
            rationale=last.plan.rationale,
            raw=raw,
            usage=usage,
        )

    def _raw(self, user: str, attempts: list[_Attempt]) -> dict[str, Any]:
        return {
            "prompt": {"system": self._system, "user": user},
            "reply": json_safe(reply_payload(attempts[-1].reply)),
            "attempts": len(attempts),
            "model": self._model(attempts[-1].reply),
            "errors": [a.error.reasons for a in attempts if a.error is not None],
            "stop_reason": _text_attr(attempts[-1].reply, "stop_reason"),
        }

    def _usage(self, attempts: list[_Attempt]) -> LLMUsage:
        model = self._model(attempts[-1].reply)
        counts = {field: sum(_tokens(a.reply, field) for a in attempts) for field in _TOKEN_FIELDS}
        return LLMUsage(
            model=model,
            latency_ms=sum(a.latency_ms for a in attempts),
            cost_usd=cost_usd(model, **counts),
            **counts,
        )

    def _model(self, reply: Any) -> str:
        return _text_attr(reply, "model") or self._cfg.model_id


# --------------------------------------------------------------------------- reading replies

_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def read_plan(reply: Any) -> TradePlan:
    """The plan in a Messages API reply, or ``InvalidPlan`` saying why there is none."""
    calls = _tool_uses(reply)
    if _text_attr(reply, "stop_reason") == "max_tokens":
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
    if not isinstance(_content(reply), list):
        return "the API response had no content list"
    if _text_attr(reply, "stop_reason") == "refusal":
        return f"the model refused and did not call {PLAN_TOOL_NAME}"
    if _texts(reply):
        return f"replied with text instead of calling {PLAN_TOOL_NAME}"
    return f"empty reply; call {PLAN_TOOL_NAME}"


def reply_payload(reply: Any) -> Any:
    """What to keep of a reply: the tool input when there is a call, else its text."""
    calls = _tool_uses(reply)
    if calls:
        return getattr(calls[0], "input", None)
    return "\n".join(_texts(reply))[:MAX_REPLY_TEXT_CHARS]


def _content(reply: Any) -> Any:
    return getattr(reply, "content", None)


def _blocks(reply: Any) -> list[Any]:
    content = _content(reply)
    return list(content) if isinstance(content, list) else []


def _tool_uses(reply: Any) -> list[Any]:
    return [b for b in _blocks(reply) if getattr(b, "type", None) == "tool_use"]


def _texts(reply: Any) -> list[str]:
    return [
        b.text
        for b in _blocks(reply)
        if getattr(b, "type", None) == "text" and isinstance(getattr(b, "text", None), str)
    ]


def _text_attr(reply: Any, name: str) -> str | None:
    value = getattr(reply, name, None)
    return value if isinstance(value, str) else None


def _tokens(reply: Any, field: str) -> int:
    value = getattr(getattr(reply, "usage", None), field, None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# --------------------------------------------------------------------------- the repair turn


def _repair_turns(reply: Any, error: InvalidPlan) -> list[dict[str, Any]]:
    """The assistant's reply as sent, then the validation errors as a tool result (or text)."""
    feedback = (
        f"The trade plan was rejected: {error}. Call {PLAN_TOOL_NAME} exactly once with a "
        "corrected plan that matches its input schema. If unsure, use action hold."
    )
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
    import anthropic

    if isinstance(err, anthropic.APITimeoutError):
        return TemporaryError(f"Anthropic API timed out after {cfg.max_retries} retries")
    if isinstance(err, anthropic.APIConnectionError):
        return TemporaryError(f"Anthropic API unreachable after {cfg.max_retries} retries")
    if not isinstance(err, anthropic.APIStatusError):
        return OperationalError(f"Anthropic client error: {type(err).__name__}")
    status, detail = err.status_code, _redact(_error_detail(err), api_key)
    if status in _RETRIED_STATUS or status >= 500:
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


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


# --------------------------------------------------------------------------- helpers


def json_safe(value: Any) -> Any:
    """A copy that ``json.dumps(..., allow_nan=False)`` accepts: NaN/inf become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _matches(model: str, prefixes: tuple[str, ...]) -> bool:
    return any(model == p or model.startswith(f"{p}-") for p in prefixes)


def _log_outcome(context: ComposeContext, last: _Attempt, usage: LLMUsage, attempts: int) -> None:
    if last.plan is None:
        logger.warning(
            "llm reply invalid, no instructions strategy_id=%s compose_id=%s attempts=%d reason=%s",
            context.strategy_id,
            context.compose_id,
            attempts,
            last.error.short if last.error else "invalid plan",
        )
    logger.debug(  # the cycle's INFO line carries the cost
        "llm compose strategy_id=%s compose_id=%s attempts=%d items=%d input_tokens=%d "
        "output_tokens=%d cache_write=%d cache_read=%d cost_usd=%.6f latency_ms=%d",
        context.strategy_id,
        context.compose_id,
        attempts,
        len(last.plan.items) if last.plan else 0,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_creation_input_tokens,
        usage.cache_read_input_tokens,
        usage.cost_usd,
        usage.latency_ms,
    )
