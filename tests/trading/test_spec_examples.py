"""The spec's integration examples, with only the import prefix changed."""

from __future__ import annotations

from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import BaseStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.decision import BaseComposer
from tradeloop.trading.features import BaseFeaturesPipeline
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    FeaturesPipelineResult,
    TradeInstruction,
    UserRequest,
)

# --- Example 1: custom feature pipeline (verbatim but for the import prefix) -----------------


class MyFeaturesPipeline(BaseFeaturesPipeline):
    """Custom pipeline with specialized indicators."""

    def __init__(self, request: UserRequest):
        self.request = request
        self.symbols = request.trading_config.symbols
        # Initialize custom data sources, indicators, etc.

    async def build(self) -> FeaturesPipelineResult:
        features = []
        # Fetch data and compute custom features
        # ... your logic here ...
        return FeaturesPipelineResult(features=features)


class MyCustomAgent(BaseStrategyAgent):
    """Agent with custom feature computation."""

    async def _build_features_pipeline(self, request: UserRequest) -> BaseFeaturesPipeline | None:
        return MyFeaturesPipeline(request)

    async def _create_decision_composer(self, request: UserRequest):
        # Use default LLM composer
        return None


# --- Example 2: custom decision composer ------------------------------------------------------


class RuleBasedComposer(BaseComposer):
    """Simple rule-based decision maker (no LLM)."""

    def __init__(self, request: UserRequest):
        self.request = request

    async def compose(self, context: ComposeContext) -> ComposeResult:
        instructions = []
        # Implement your trading rules
        # Example: Buy when RSI < 30, sell when RSI > 70
        for fv in context.features:
            rsi = fv.values.get("rsi")
            if rsi and rsi < 30:
                # Create buy instruction
                pass
            elif rsi and rsi > 70:
                # Create sell instruction
                pass

        return ComposeResult(instructions=instructions, rationale="Rule-based signals")


class RuleBasedAgent(BaseStrategyAgent):
    """Agent using rule-based decisions."""

    async def _build_features_pipeline(self, request: UserRequest):
        # Use default pipeline
        return None

    async def _create_decision_composer(self, request: UserRequest):
        return RuleBasedComposer(request)


# --- Example 3: lifecycle hooks ---------------------------------------------------------------


class MonitoredAgent(BaseStrategyAgent):
    """Agent with custom monitoring and logging."""

    async def _on_start(self, runtime, request):
        """Called once after runtime creation."""
        self.cycle_count = 0
        print(f"Strategy {runtime.strategy_id} starting...")

    async def _on_cycle_result(self, result, runtime, request):
        """Called after each cycle completes."""
        self.cycle_count += 1
        print(
            f"Cycle {self.cycle_count}: "
            f"{len(result.trades)} trades, "
            f"PnL: {result.strategy_summary.realized_pnl}"
        )

        # Send metrics to external monitoring
        # ... custom logic ...

    async def _on_stop(self, runtime, request, reason):
        """Called before finalization."""
        print(f"Strategy stopping: {reason}")
        print(f"Total cycles: {self.cycle_count}")

    async def _build_features_pipeline(self, request):
        return None  # Use defaults

    async def _create_decision_composer(self, request):
        return None  # Use defaults


# --- the tests ----------------------------------------------------------------------------------


def btc_request(interval: int = 3600) -> UserRequest:
    return UserRequest.model_validate(
        {
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": ["BTC-USDT"],
                "decide_interval": interval,
                "feature_intervals": ["1h"],
            }
        }
    )


def replay(shared_data) -> Components:
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource.from_dir(shared_data, clock)
    clock.set(source.start_ms(250))
    return Components(market_data=source, clock=clock)


async def test_example_1_a_custom_pipeline_feeds_the_cycle() -> None:
    runtime = await MyCustomAgent().create_runtime(btc_request())
    assert isinstance(runtime.coordinator.pipeline, MyFeaturesPipeline)
    result = await runtime.coordinator.run_once()
    assert result.features == []
    assert result.instructions == []


async def test_example_2_a_custom_composer_decides_on_default_features(shared_data) -> None:
    results = await RuleBasedAgent().run(
        btc_request(), max_cycles=3, components=replay(shared_data)
    )
    assert [r.rationale for r in results] == ["Rule-based signals"] * 3
    assert any("rsi" in fv.values for fv in results[0].features)


async def test_example_3_hooks_see_every_cycle_and_the_stop_reason(shared_data, capsys) -> None:
    agent = MonitoredAgent()
    await agent.run(btc_request(), max_cycles=4, components=replay(shared_data))
    out = capsys.readouterr().out
    assert "starting..." in out
    assert out.count("Cycle ") == 4
    assert "Strategy stopping: max_cycles reached" in out
    assert agent.cycle_count == 4


class FailingHooksAgent(MonitoredAgent):
    async def _on_cycle_result(self, result, runtime, request):
        raise RuntimeError("monitoring is down")


async def test_hook_exceptions_are_logged_and_swallowed(shared_data, caplog) -> None:
    results = await FailingHooksAgent().run(
        btc_request(), max_cycles=2, components=replay(shared_data)
    )
    assert len(results) == 2
    assert "hook _on_cycle_result" in caplog.text


async def test_a_runtime_runs_one_cycle_at_a_time_with_a_strategy_id(shared_data) -> None:
    runtime = await RuleBasedAgent().create_runtime(btc_request(), components=replay(shared_data))
    first = await runtime.coordinator.run_once()
    runtime.advance()
    second = await runtime.coordinator.run_once()
    assert runtime.strategy_id.startswith("s_")
    assert second.ts - first.ts == 3600 * 1000
    assert isinstance(first.instructions, list) and all(
        isinstance(i, TradeInstruction) for i in first.instructions
    )
