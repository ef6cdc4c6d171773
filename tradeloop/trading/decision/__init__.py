import importlib

from tradeloop.trading.decision.guardrails import GuardLimits, GuardResult, apply_guardrails
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.rule_based import RuleBasedComposer

__all__ = ["BaseComposer", "GuardLimits", "GuardResult", "RuleBasedComposer", "apply_guardrails"]


_LAZY = {
    "LlmComposer": "tradeloop.trading.decision.prompt_based.composer",
    "HybridComposer": "tradeloop.trading.decision.hybrid",
}


def __getattr__(name: str) -> object:
    # Loaded when asked for: the LLM composers import this package's interfaces themselves.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
