"""The provider a model config names (``cfg.provider``): its ``Provider``, its SDK client and
how its replies count tokens. The one place that knows every wire format module."""

from __future__ import annotations

from typing import Any

from tradeloop.trading.decision.prompt_based import anthropic_api, openai_api
from tradeloop.trading.decision.prompt_based.providers import Provider
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import LLMModelConfig


def make_provider(cfg: LLMModelConfig, system: str, client: Any, api_key: str | None) -> Provider:
    """The provider for ``cfg.provider``; ``client`` is its SDK client (or a stand-in)."""
    if cfg.provider == "anthropic":
        return anthropic_api.AnthropicProvider(cfg, system, client, api_key)
    if cfg.provider == "openai":
        return openai_api.OpenAiProvider(cfg, client, api_key)
    raise ConfigError(f"llm_model_config.provider {cfg.provider!r} is not supported")


def reply_tokens(provider: str, reply: Any) -> dict[str, int]:
    """A reply's token counts under ``TOKEN_FIELDS``, read the way its provider reports them."""
    if provider == "openai":
        return openai_api.reply_tokens(reply)
    return anthropic_api.reply_tokens(reply)


def build_client(cfg: LLMModelConfig, api_key: str) -> Any:
    """The SDK client of ``cfg.provider`` for ``cfg.base_url``, with the configured retries."""
    if cfg.provider == "openai":
        return openai_api.build_client(cfg, api_key)
    return anthropic_api.build_client(cfg, api_key)
