"""Which composer a request gets when the agent does not supply one."""

from __future__ import annotations

from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.prompt_based.composer import LlmComposer
from tradeloop.trading.decision.rule_based import RuleBasedComposer
from tradeloop.trading.models import UserRequest


def create_composer(request: UserRequest) -> BaseComposer:
    if request.trading_config.composer == "llm":
        return LlmComposer(request)
    return RuleBasedComposer(request)
