"""StrategyRuntime: the wired components of one strategy, built from a UserRequest."""

from __future__ import annotations

from dataclasses import dataclass, field

from tradeloop.trading._internal.coordinator import DefaultDecisionCoordinator
from tradeloop.trading.clock import Clock, SimulatedClock, SystemClock, slot_step_ms
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.decision.factory import create_composer
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.execution.factory import create_execution_gateway
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.features.pipeline import DefaultFeaturesPipeline
from tradeloop.trading.history.digest import RollingDigestBuilder
from tradeloop.trading.history.interfaces import BaseDigestBuilder, BaseHistoryRecorder
from tradeloop.trading.history.recorder import InMemoryHistoryRecorder
from tradeloop.trading.models import UserRequest
from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService
from tradeloop.trading.portfolio.interfaces import BasePortfolioService
from tradeloop.trading.utils import new_id


@dataclass
class Components:
    """Optional overrides; whatever is None gets the default implementation."""

    market_data: BaseMarketDataSource | None = None
    pipeline: BaseFeaturesPipeline | None = None
    composer: BaseComposer | None = None
    gateway: BaseExecutionGateway | None = None
    portfolio: BasePortfolioService | None = None
    recorder: BaseHistoryRecorder | None = None
    digest: BaseDigestBuilder | None = None
    clock: Clock | None = None
    log_cycles: bool = True  # one INFO line per cycle; a backtest logs its own summary instead


@dataclass
class StrategyRuntime:
    strategy_id: str
    request: UserRequest
    coordinator: DefaultDecisionCoordinator
    clock: Clock
    market_data: BaseMarketDataSource | None = None
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return isinstance(self.clock, SimulatedClock)

    def advance(self) -> None:
        """On simulated time, move to the next decision slot."""
        if isinstance(self.clock, SimulatedClock):
            interval_s = self.request.trading_config.decide_interval
            self.clock.set(self.clock.now_ms() + slot_step_ms(interval_s))

    def update_request(self, request: UserRequest) -> None:
        """A changed config takes effect at the next cycle."""
        self.request = request
        self.coordinator.request = request

    async def close(self) -> None:
        await self.coordinator.composer.close()
        await self.coordinator.gateway.close()
        await self.coordinator.pipeline.close()
        if self.market_data is not None:
            await self.market_data.close()


def default_clock(market_data: BaseMarketDataSource | None, request: UserRequest) -> Clock:
    """Replayed data brings simulated time, starting once enough history is visible."""
    if isinstance(market_data, ReplayMarketDataSource):
        return market_data.clock
    return SystemClock()


def _default_pipeline(
    request: UserRequest, parts: Components, clock: Clock
) -> BaseFeaturesPipeline:
    return DefaultFeaturesPipeline(request, market_data=parts.market_data, clock=clock)


async def create_strategy_runtime(
    request: UserRequest,
    *,
    strategy_id: str | None = None,
    components: Components | None = None,
    default_composer: BaseComposer | None = None,
    default_pipeline: BaseFeaturesPipeline | None = None,
) -> StrategyRuntime:
    parts = components or Components()
    sid = strategy_id or new_id("s")
    clock = parts.clock or default_clock(parts.market_data, request)
    cfg = request.trading_config
    pipeline = parts.pipeline or default_pipeline or _default_pipeline(request, parts, clock)
    coordinator = DefaultDecisionCoordinator(
        strategy_id=sid,
        request=request,
        pipeline=pipeline,
        composer=parts.composer or default_composer or create_composer(request),
        gateway=parts.gateway or create_execution_gateway(request, clock),
        portfolio=parts.portfolio or InMemoryPortfolioService(sid, request, ts=clock.now_ms()),
        recorder=parts.recorder or InMemoryHistoryRecorder(),
        digest=parts.digest
        or RollingDigestBuilder(
            interval_s=cfg.decide_interval,
            window=cfg.sharpe_window,
            initial_capital=cfg.initial_capital,
        ),
        clock=clock,
        market_data=parts.market_data,
        log_cycles=parts.log_cycles,
    )
    return StrategyRuntime(
        strategy_id=sid,
        request=request,
        coordinator=coordinator,
        clock=clock,
        market_data=parts.market_data,
    )
