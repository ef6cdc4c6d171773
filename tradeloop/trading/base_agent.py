"""BaseStrategyAgent: lifecycle around the decision cycle, with the spec's extension points."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from tradeloop.trading._internal.runtime import (
    Components,
    StrategyRuntime,
    create_strategy_runtime,
)
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.models import CycleResult, UserRequest

logger = logging.getLogger(__name__)


class BaseStrategyAgent(ABC):
    """Subclass and override the two factories (return None for the defaults) and any hooks.

    Hook exceptions are logged and swallowed: monitoring code must never stop a strategy.
    """

    @abstractmethod
    async def _build_features_pipeline(self, request: UserRequest) -> BaseFeaturesPipeline | None:
        """Return a custom pipeline, or None for ``DefaultFeaturesPipeline``."""

    @abstractmethod
    async def _create_decision_composer(self, request: UserRequest) -> BaseComposer | None:
        """Return a custom composer, or None for the default (rules, or the LLM when configured)."""

    async def _on_start(self, runtime: StrategyRuntime, request: UserRequest) -> None:
        """Called once after the runtime is created."""

    async def _on_cycle_result(
        self, result: CycleResult, runtime: StrategyRuntime, request: UserRequest
    ) -> None:
        """Called after every completed cycle."""

    async def _on_stop(self, runtime: StrategyRuntime, request: UserRequest, reason: str) -> None:
        """Called before the runtime is closed."""

    async def create_runtime(
        self,
        request: UserRequest,
        *,
        strategy_id: str | None = None,
        components: Components | None = None,
    ) -> StrategyRuntime:
        """Wire a runtime whose ``coordinator.run_once()`` runs one full cycle."""
        parts = components or Components()
        return await create_strategy_runtime(
            request,
            strategy_id=strategy_id,
            components=parts,
            default_pipeline=None
            if parts.pipeline
            else await self._build_features_pipeline(request),
            default_composer=None
            if parts.composer
            else await self._create_decision_composer(request),
        )

    async def run(
        self,
        request: UserRequest,
        max_cycles: int | None = None,
        *,
        strategy_id: str | None = None,
        components: Components | None = None,
    ) -> list[CycleResult]:
        """Run the lifecycle: start hook, cycles back to back (simulated time) or every
        ``decide_interval`` seconds (real time), stop hook. Returns the cycle results."""
        runtime = await self.create_runtime(request, strategy_id=strategy_id, components=components)
        results: list[CycleResult] = []
        reason = "max_cycles reached"
        await self._call_hook("_on_start", runtime, request)
        try:
            while max_cycles is None or len(results) < max_cycles:
                result = await runtime.coordinator.run_once()
                results.append(result)
                await self._call_hook("_on_cycle_result", result, runtime, request)
                await self._wait_next(runtime, len(results), max_cycles)
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        except Exception as exc:
            reason = f"error: {exc}"
            raise
        finally:
            await self._call_hook("_on_stop", runtime, request, reason)
            await runtime.close()
        return results

    async def _wait_next(self, runtime: StrategyRuntime, done: int, max_cycles: int | None) -> None:
        if max_cycles is not None and done >= max_cycles:
            return
        if runtime.simulated:
            runtime.advance()
        else:
            await asyncio.sleep(runtime.request.trading_config.decide_interval)

    async def _call_hook(self, name: str, *args: object) -> None:
        try:
            await getattr(self, name)(*args)
        except Exception:
            logger.exception("hook %s of %s failed; continuing", name, type(self).__name__)


class DefaultStrategyAgent(BaseStrategyAgent):
    """Default pipeline and composer: what ``tradeloop run`` and the MCP server use."""

    async def _build_features_pipeline(self, request: UserRequest) -> BaseFeaturesPipeline | None:
        return None

    async def _create_decision_composer(self, request: UserRequest) -> BaseComposer | None:
        return None
