from tradeloop.trading.decision.guardrails import GuardLimits, GuardResult, apply_guardrails
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.rule_based import RuleBasedComposer

__all__ = ["BaseComposer", "GuardLimits", "GuardResult", "RuleBasedComposer", "apply_guardrails"]


def __getattr__(name: str) -> object:
    # LlmComposer imports the anthropic SDK; load it only when asked for.
    if name in ("LlmComposer", "HybridComposer"):
        if name == "LlmComposer":
            from tradeloop.trading.decision.prompt_based.composer import LlmComposer

            return LlmComposer
        from tradeloop.trading.decision.hybrid import HybridComposer

        return HybridComposer
    raise AttributeError(name)
