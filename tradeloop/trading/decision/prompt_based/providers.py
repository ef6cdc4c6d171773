"""What every model provider has in common: where its key comes from, whether it needs one, and
the interface ``LlmComposer`` drives (one request, one plan, one repair turn, token counts).
``by_provider`` picks the implementation a config names.

A provider speaks one wire format (``anthropic_api``: the Messages API; ``openai_api``: chat
completions) and translates it to this contract, so the repair turn, the recorded reasons, the
garbage safety and the cost accounting are the same code for every model.
"""

from __future__ import annotations

import math
import os
from typing import Any, Protocol
from urllib.parse import urlsplit

from tradeloop.trading.decision.prompt_based.plan import InvalidPlan, TradePlan
from tradeloop.trading.errors import OperationalError
from tradeloop.trading.models import LLMModelConfig

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal"})
KEYLESS_PLACEHOLDER = "no-key-needed"
"""What a keyless local server (Ollama, vLLM on this machine) is sent as the key; the SDKs require
a non-empty one."""
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
"""Token counts every provider reports, with Anthropic's meaning: ``input_tokens`` excludes cached
input, which is counted as ``cache_read_input_tokens``."""
PROVIDER_NAMES = {"anthropic": "Anthropic API", "openai": "OpenAI-compatible API"}


def is_local(base_url: str | None) -> bool:
    """Whether ``base_url`` is a server on this machine, which may need no key."""
    if not base_url:
        return False
    host = (urlsplit(base_url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def key_error(cfg: LLMModelConfig) -> str | None:
    """Why an ``llm`` strategy with this config cannot call its model now, or None: its key
    variable is unset (a local ``base_url`` needs no key). Never includes the key."""
    if os.environ.get(cfg.api_key_env, "").strip() or is_local(cfg.base_url):
        return None
    where = f" at {cfg.base_url}" if cfg.base_url else ""
    return (
        f"{cfg.api_key_env} is not set: the llm composer's provider {cfg.provider!r}"
        f"{where} needs an API key in that environment variable of the server"
    )


def resolve_api_key(cfg: LLMModelConfig, api_key: str | None = None) -> str:
    """The explicit key (server config), else ``os.environ[cfg.api_key_env]``, else a placeholder
    for a keyless local server; OperationalError naming the variable otherwise."""
    key = (api_key or os.environ.get(cfg.api_key_env, "")).strip()
    if key:
        return key
    if is_local(cfg.base_url):
        return KEYLESS_PLACEHOLDER
    raise OperationalError(
        f"{cfg.api_key_env} is not set: export it, or set the {PROVIDER_NAMES[cfg.provider]} key "
        "in the server config, to use the llm composer"
    )


class Provider(Protocol):
    """One model API as ``LlmComposer`` uses it. Replies are the SDK's objects (or anything with
    the same attributes, e.g. a cached reply)."""

    def first_messages(self, system: str, user: str) -> list[dict[str, Any]]: ...

    async def send(self, messages: list[dict[str, Any]]) -> Any:
        """One request; raises TemporaryError / OperationalError (never holding the key)."""
        ...

    def read_plan(self, reply: Any) -> TradePlan:
        """The plan in a reply, or ``InvalidPlan`` saying why there is none."""
        ...

    def repair_turns(self, reply: Any, error: InvalidPlan) -> list[dict[str, Any]]:
        """The reply as sent back, then the validation errors, for the one repair request."""
        ...

    def payload(self, reply: Any) -> Any:
        """What to keep of a reply: the call's arguments when there is a call, else its text."""
        ...

    def tokens(self, reply: Any) -> dict[str, int]:
        """The reply's token counts under ``TOKEN_FIELDS``."""
        ...

    def model(self, reply: Any) -> str | None: ...

    def stop_reason(self, reply: Any) -> str | None: ...

    async def aclose(self) -> None: ...


def count(value: Any) -> int:
    """A token count from an untrusted reply: a positive int, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def text_attr(obj: Any, name: str) -> str | None:
    value = getattr(obj, name, None)
    return value if isinstance(value, str) else None


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


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
