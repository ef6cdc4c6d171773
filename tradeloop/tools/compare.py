"""The ``compare_strategies`` tool: several strategy configs over the server's historical candles,
side by side with buy-and-hold and the default rules strategy (see ``tradeloop.backtest.compare``).
The chart of all curves is ``get_equity_chart(comparison_id)``."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, ConfigDict, Field

from tradeloop.backtest.models import Comparison
from tradeloop.backtest.times import parse_time_ms
from tradeloop.dashboard.page import LINKED_META
from tradeloop.tools import _views as views
from tradeloop.tools._common import Ctx, add_tool, changes, principal, state
from tradeloop.tools._config import StrategyParams
from tradeloop.tools._params import (
    Composer,
    DecideInterval,
    InitialCapital,
    LlmModel,
    MarketTypeArg,
    MaybeFeatureIntervals,
    MaybeStrategyPrompt,
    Symbols,
    Template,
)
from tradeloop.tools.backtest import Time
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import UserRequest


class RulesArg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rsi_buy_below: float = Field(default=30.0, ge=0, le=100)
    rsi_sell_above: float = Field(default=70.0, ge=0, le=100)
    trend_filter: bool = False
    position_size_pct: float = Field(default=0.2, gt=0, le=1)


class StrategyArg(BaseModel):
    """One strategy of a comparison."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="Unique column name.", min_length=1, max_length=40)
    symbols: Symbols
    initial_capital: InitialCapital = 10_000
    decide_interval: DecideInterval = 3600
    composer: Composer = "rules"
    template: Template = "default"
    strategy_prompt: MaybeStrategyPrompt = None
    llm_model: LlmModel = None
    rules: RulesArg | None = Field(default=None, description="rules composer thresholds.")
    feature_intervals: MaybeFeatureIntervals = None
    market_type: MarketTypeArg = "spot"

    def request(self) -> UserRequest:
        shared = self.model_dump(exclude={"label", "rules", "feature_intervals"})
        params = StrategyParams(**shared, feature_intervals=self.feature_intervals or ["1h"])
        request = params.request(strategy_name=self.label)
        if self.rules is None:
            return request
        trading = request.trading_config.model_copy(
            update={"rules": request.trading_config.rules.model_validate(self.rules.model_dump())}
        )
        return request.model_copy(update={"trading_config": trading})


class ComparisonResult(Comparison):
    """A comparison with its chart id (``get_equity_chart``) and its window as ISO times."""

    comparison_id: str
    start: str | None
    end: str | None


async def compare_strategies(
    strategies: Annotated[
        list[StrategyArg],
        Field(description="2 to 8 strategy configs to compare.", min_length=1, max_length=8),
    ],
    ctx: Ctx,
    start: Time = None,
    end: Time = None,
    repeats: Annotated[
        int,
        Field(
            description="Runs per llm strategy (reply cache off) for mean and 95 % confidence "
            "intervals; rule strategies are deterministic and run once.",
            ge=1,
            le=10,
        ),
    ] = 1,
    max_cost_usd: Annotated[
        float | None,
        Field(description="llm strategies: stop each run at this LLM spend (USD).", ge=0, le=1000),
    ] = None,
) -> ComparisonResult:
    """Backtest several strategy configs (prompts, templates, models, rules) over the same
    window of the server's historical candles, side by side with buy-and-hold and the default
    rules strategy: total return, CAGR, Sharpe, Sortino, Calmar, drawdown, exposure, turnover,
    trades, win rate, payoff, fees, LLM cost; per-regime returns; training-cutoff warnings.
    get_equity_chart(comparison_id) draws every equity curve with buy-and-hold."""
    app = state(ctx)
    if app.settings.replay_dir is None:
        raise ConfigError(
            "compare_strategies needs historical candles: the operator starts the server with "
            "--replay DIR (or TRADELOOP_REPLAY_DIR) pointing at candle CSV files"
        )
    if any(s.composer == "llm" for s in strategies) and max_cost_usd is None:
        raise ConfigError("max_cost_usd: required when a strategy's composer is 'llm'")
    entries = [(s.label, s.request()) for s in strategies]

    async def progress(label: str, index: int, runs: int) -> None:
        await ctx.report_progress(index, runs, f"running {label} ({index + 1}/{runs})")

    comparison_id, done = await app.backtests().compare(
        entries,
        start_ms=parse_time_ms(start) if start else None,
        end_ms=parse_time_ms(end) if end else None,
        repeats=repeats,
        max_cost_usd=max_cost_usd,
        progress=progress,
        principal=principal(ctx),
    )
    result = done.result
    return ComparisonResult(
        **result.model_dump(),
        comparison_id=comparison_id,
        start=views.iso(result.start_ms),
        end=views.iso(result.end_ms),
    )


def register(server: MCPServer) -> None:
    add_tool(
        server,
        compare_strategies,
        title="Compare strategies",
        annotations=changes(destructive=False, idempotent=False, open_world=True),
        meta=LINKED_META,
    )
