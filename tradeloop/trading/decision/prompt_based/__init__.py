"""The Claude-driven composer. Importing this package does not import the anthropic SDK."""

from tradeloop.trading.decision.prompt_based.composer import LlmComposer

__all__ = ["LlmComposer"]
