"""The decision contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tradeloop.trading.models import ComposeContext, ComposeResult


class BaseComposer(ABC):
    """Proposes instructions for one cycle; the guardrails decide what is actually sent.

    Failure contract: an unusable model reply is a ``ComposeResult`` with ``skipped_reason`` and no
    instructions; transport failures raise ``TemporaryError``.
    """

    @abstractmethod
    async def compose(self, context: ComposeContext) -> ComposeResult: ...

    async def close(self) -> None:
        """Release clients (an LLM's HTTP connection). Default: nothing to release."""
