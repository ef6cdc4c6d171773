"""LLM backtests that are free to re-run: replies cached by a hash of the exact request, a cost
estimate before starting, and a spending cap.

``CachedLlmClient`` stands in for the provider's SDK client inside ``LlmComposer`` (its
``messages.create`` for Anthropic, ``chat.completions.create`` for OpenAI-compatible APIs): it hashes
the provider, the ``base_url`` and everything that decides the reply (model, max_tokens, system,
messages, tools, tool_choice; not the transport timeout) and serves a stored reply when there is one. A
backtest's prompts depend only on replayed data and earlier replies, so a re-run sends the very same
requests, gets the very same replies and makes the very same decisions, without a network call or an
API key. A hit reports zero tokens (nothing was billed); ``stats`` counts what was spent and saved.

Replies are JSON files ``<dir>/<sha[:2]>/<sha>.json``, written atomically. The real client is built
on the first miss only (``client_factory``).

With ``max_cost_usd``, a miss is refused with ``CostCapReached`` once what was spent, plus the
largest single call so far, would pass the cap: the run stops before the call that would overspend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from tradeloop.backtest.models import CostEstimate
from tradeloop.trading.decision.prompt_based.by_provider import reply_tokens
from tradeloop.trading.decision.prompt_based.context_json import render_context
from tradeloop.trading.decision.prompt_based.plan import plan_tool
from tradeloop.trading.decision.prompt_based.pricing import cost_usd
from tradeloop.trading.decision.prompt_based.providers import text_attr
from tradeloop.trading.decision.prompt_based.system_prompt import (
    estimate_tokens,
    render_system_prompt,
)
from tradeloop.trading.errors import OperationalError
from tradeloop.trading.models import ComposeContext, LlmPrice, UserRequest

logger = logging.getLogger(__name__)

_UNHASHED = frozenset({"timeout", "extra_headers", "extra_query", "extra_body"})
_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
OUTPUT_TOKENS_BASE = 120
OUTPUT_TOKENS_PER_SYMBOL = 90
"""Typical plan size: a rationale plus one item (action, quantity, reason) per symbol."""


class CostCapReached(OperationalError):
    """The next LLM call would pass ``max_cost_usd``; the backtest stops here."""


def request_key(
    params: dict[str, Any], *, provider: str = "anthropic", base_url: str | None = None
) -> str:
    """sha256 of the canonical JSON of the provider, its base URL and the request parameters
    that decide the reply (the same model name on another server is another model)."""
    hashed = {k: v for k, v in params.items() if k not in _UNHASHED}
    hashed["__provider__"] = provider if base_url is None else f"{provider} {base_url}"
    canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class ReplyCache:
    """Stored Messages API replies by request hash."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self._path(key).exists()

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            logger.warning("ignoring unreadable cached reply %s", path.name)
            return None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            json.dump(entry, sink, separators=(",", ":"))
        os.replace(tmp, path)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json")) if self.directory.exists() else 0


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    spent_usd: float = 0.0
    saved_usd: float = 0.0
    largest_call_usd: float = 0.0
    unpriced_calls: int = 0
    """Calls to a model without a known price: their cost is unknown, not in ``spent_usd``."""
    saved_input_tokens: int = 0
    """Input tokens (cached prompt included) of the replies served from the cache."""
    saved_output_tokens: int = 0


class _CachedCreate:
    """``.create(**params)`` of one SDK resource (``messages``, ``chat.completions``)."""

    def __init__(self, owner: CachedLlmClient) -> None:
        self._owner = owner
        self.completions = self  # ``chat.completions.create``

    async def create(self, **params: Any) -> Any:
        return await self._owner.create(params)


class CachedLlmClient:
    """The part of the provider's SDK client that ``LlmComposer`` uses, behind a reply cache."""

    def __init__(
        self,
        cache: ReplyCache,
        client_factory: Callable[[], Any] | None = None,
        *,
        provider: str = "anthropic",
        base_url: str | None = None,
        price: LlmPrice | None = None,
        max_cost_usd: float | None = None,
        close_client: bool = True,
    ) -> None:
        """``close_client``: whether ``close()`` closes the client the factory made."""
        self.cache = cache
        self.provider = provider
        self.base_url = base_url
        self.price = price
        self._close_client = close_client
        self.max_cost_usd = max_cost_usd
        self.stats = CacheStats()
        self.messages = self.chat = _CachedCreate(self)
        self._factory = client_factory
        self._client: Any = None

    async def create(self, params: dict[str, Any]) -> Any:
        key = request_key(params, provider=self.provider, base_url=self.base_url)
        entry = self.cache.get(key)
        if entry is not None:
            self.stats.hits += 1
            self.stats.saved_usd += float(entry.get("cost_usd") or 0.0)
            if entry.get("cost_usd") is None and "cost_usd" in entry:
                self.stats.unpriced_calls += 1
            billed = _reply(self.provider, entry["reply"])
            tokens = reply_tokens(self.provider, billed)
            self.stats.saved_input_tokens += (
                tokens["input_tokens"]
                + tokens["cache_creation_input_tokens"]
                + tokens["cache_read_input_tokens"]
            )
            self.stats.saved_output_tokens += tokens["output_tokens"]
            return _unbilled(self.provider, entry["reply"])
        self._check_budget()
        reply = await self._send(params)
        cost = self._reply_cost(reply, str(params.get("model", "")))
        self.stats.misses += 1
        if cost is None:
            self.stats.unpriced_calls += 1
        else:
            self.stats.spent_usd += cost
            self.stats.largest_call_usd = max(self.stats.largest_call_usd, cost)
        self.cache.put(
            key,
            {"provider": self.provider, "model": params.get("model"), "cost_usd": cost}
            | {"reply": reply.model_dump(mode="json", exclude_none=True)},
        )
        return reply

    async def _send(self, params: dict[str, Any]) -> Any:
        client = self._real_client()
        if self.provider == "openai":
            return await client.chat.completions.create(**params)
        return await client.messages.create(**params)

    def _reply_cost(self, reply: Any, model: str) -> float | None:
        name = text_attr(reply, "model") or model
        return cost_usd(name, price=self.price, **reply_tokens(self.provider, reply))

    def _check_budget(self) -> None:
        cap = self.max_cost_usd
        if cap is None:
            return
        projected = self.stats.spent_usd + self.stats.largest_call_usd
        if self.stats.spent_usd >= cap or projected > cap:
            raise CostCapReached(
                f"max_cost_usd {cap:.2f} reached: spent {self.stats.spent_usd:.4f} USD, "
                f"the next call would cost about {self.stats.largest_call_usd:.4f} USD"
            )

    def _real_client(self) -> Any:
        if self._client is None:
            if self._factory is None:
                raise OperationalError("the reply is not cached and no LLM client is configured")
            self._client = self._factory()
        return self._client

    async def close(self) -> None:
        if self._client is not None and self._close_client:
            await self._client.close()
        self._client = None


CachedAnthropicClient = CachedLlmClient
"""The name before OpenAI-compatible providers were cached too."""


def _reply(provider: str, stored: dict[str, Any]) -> Any:
    """The stored reply as the SDK's reply type, usage as billed when it was stored."""
    if provider == "openai":
        from openai.types.chat import ChatCompletion  # lazy: an SDK costs a second; one is used

        return ChatCompletion.model_validate(stored)
    from anthropic.types import Message  # lazy: as above

    return Message.model_validate(stored)


def _unbilled(provider: str, stored: dict[str, Any]) -> Any:
    """The stored reply as the SDK's reply type, with zero usage: a cache hit costs nothing."""
    if provider == "openai":
        from openai.types.chat import ChatCompletion  # lazy: as in _reply

        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return ChatCompletion.model_validate(stored | {"usage": usage})
    from anthropic.types import Message  # lazy: as in _reply

    return Message.model_validate(stored | {"usage": {field: 0 for field in _TOKEN_FIELDS}})


# --------------------------------------------------------------------------- estimate


def estimate_cost(
    request: UserRequest, context: ComposeContext, cycles: int, *, first_cycle_cached: bool = False
) -> CostEstimate:
    """Token and USD estimate from the first cycle's real prompt: the system prompt and tool
    schema are prompt-cached after the first call, the context document is new input every cycle.
    The USD figures are None for a model without a known price."""
    cfg = request.llm_model_config
    fixed = estimate_tokens(render_system_prompt(request)) + estimate_tokens(
        json.dumps(plan_tool())
    )
    user = estimate_tokens(render_context(context))
    output = min(
        cfg.max_tokens,
        OUTPUT_TOKENS_BASE + OUTPUT_TOKENS_PER_SYMBOL * len(request.trading_config.symbols),
    )

    def total(output_tokens: int) -> float | None:
        first = cost_usd(
            cfg.model_id,
            input_tokens=user,
            output_tokens=output_tokens,
            cache_creation_input_tokens=fixed,
            price=cfg.price,
        )
        rest = cost_usd(
            cfg.model_id,
            input_tokens=user,
            output_tokens=output_tokens,
            cache_read_input_tokens=fixed,
            price=cfg.price,
        )
        if first is None or rest is None:
            return None
        return round(first + rest * max(0, cycles - 1), 4) if cycles else 0.0

    return CostEstimate(
        model=cfg.model_id,
        cycles=cycles,
        input_tokens_per_cycle=user,
        cached_prompt_tokens_per_cycle=fixed,
        output_tokens_per_cycle=output,
        total_tokens=(user + fixed + output) * cycles,
        cost_usd=total(output),
        max_cost_usd=total(cfg.max_tokens),
        first_cycle_cached=first_cycle_cached,
    )


def default_cache_dir() -> Path:
    return Path(user_cache_dir("tradeloop")) / "llm-replies"
