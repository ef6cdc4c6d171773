"""Backtest tools: a strategy config over the server's historical candles, and equity charts.

The backtest stack (pandas, pandas-ta, matplotlib) is imported on the first call, not at start-up.
Backtests read only the server's replay directory (``--replay DIR``): a tool argument never names
a file on the server's disk.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Image, MCPServer
from pydantic import Field

from tradeloop.backtest.times import parse_time_ms
from tradeloop.dashboard.page import LINKED_META
from tradeloop.tools import _views as views
from tradeloop.tools._common import READ_ONLY, Ctx, add_tool, changes, principal, state
from tradeloop.tools._config import StrategyParams, config_arguments
from tradeloop.tools.models import BacktestResult
from tradeloop.trading.errors import ConfigError

Time = Annotated[
    str | None,
    Field(
        description="UTC date or time (2025-01-01, 2025-01-01T12:00Z) or epoch milliseconds.",
        max_length=40,
    ),
]


CONFIG = (
    "symbols",
    "initial_capital",
    "decide_interval",
    "max_leverage",
    "max_positions",
    "composer",
    "strategy_prompt",
    "template",
    "llm_model",
    "feature_intervals",
    "exchange",
    "market_type",
    "name",
    "max_drawdown_pct",
    "max_order_value",
)
"""The configuration run_backtest takes (create_strategy's, without rules: sweep varies them)."""


@config_arguments(*CONFIG)
async def run_backtest(
    config: StrategyParams,
    ctx: Ctx,
    start: Time = None,
    end: Time = None,
    warmup_candles: Annotated[
        int,
        Field(
            description="Closed candles every series needs before the first cycle.", ge=1, le=5000
        ),
    ] = 100,
    max_cost_usd: Annotated[
        float | None,
        Field(
            description="llm composer: stop before the LLM spend would pass this many USD "
            "(required for llm backtests; cached replies are free).",
            ge=0,
            le=1000,
        ),
    ] = None,
    sweep: Annotated[
        dict[str, str] | None,
        Field(
            description="rules composer only: parameters to vary, each START:STOP:STEP (inclusive) "
            'or a comma list, e.g. {"rsi_buy_below": "20:40:5", "rsi_sell_above": "60,70,80"} '
            "(a name may be a prefix: rsi_buy). Every combination runs across processes, unstored; "
            "the table comes back in `sweep`, and the run reported and stored is the best set's "
            "(with walk_forward: the last fold's chosen set on its out-of-sample part).",
            max_length=7,
        ),
    ] = None,
    sort_by: Annotated[
        Literal[
            "sharpe",
            "sortino",
            "return",
            "annual_return",
            "drawdown",
            "profit_factor",
            "win_rate",
            "trades",
            "final_equity",
        ],
        Field(description="sweep: the metric that ranks parameter sets (drawdown: lowest first)."),
    ] = "sharpe",
    walk_forward: Annotated[
        int | None,
        Field(
            description="sweep: split the window into N+1 parts; fold k picks the best set on part "
            "k-1 and reports it on part k only (out-of-sample results, not flattered by the choice).",
            ge=1,
            le=20,
        ),
    ] = None,
) -> BacktestResult:
    """Backtest a strategy configuration (the same pipeline, guardrails and paper fills as a
    live strategy) over the server's historical candles, from start to end on simulated time.
    Reports progress; returns the statistics. The run is stored as a stopped strategy under its
    run_id: list_trades, list_cycles, get_digest, get_strategy and get_equity_chart read it; it
    cannot be started."""
    app = state(ctx)
    if app.settings.replay_dir is None:
        raise ConfigError(
            "run_backtest needs historical candles: the operator starts the server with "
            "--replay DIR (or TRADELOOP_REPLAY_DIR) pointing at candle CSV files"
        )
    if sweep is None and walk_forward is not None:
        raise ConfigError("walk_forward: needs sweep (the parameters to choose between)")
    if sweep is not None and config.composer == "llm":
        raise ConfigError(
            "sweep: an llm strategy cannot be swept: its decisions are model replies, not "
            "functions of the rules parameters; use composer 'rules'"
        )
    if config.composer == "llm" and max_cost_usd is None:
        raise ConfigError("max_cost_usd: required when composer is 'llm' (an LLM call per cycle)")
    request = config.request(strategy_name=config.name)

    async def progress(done: int, total: int, message: str) -> None:
        await ctx.report_progress(done, total, message)

    result = await app.backtests().run(
        request,
        start_ms=parse_time_ms(start) if start else None,
        end_ms=parse_time_ms(end) if end else None,
        warmup_candles=warmup_candles,
        max_cost_usd=max_cost_usd,
        sweep=sweep,
        sort_by=sort_by,
        walk_forward=walk_forward,
        progress=progress,
        principal=principal(ctx),
    )
    reply = views.backtest(result.run.summary())
    return reply.model_copy(update={"sweep": result.sweep}) if result.sweep is not None else reply


async def get_equity_chart(
    strategy_id: Annotated[
        str,
        Field(
            description="A backtest run_id (bt_...), a comparison_id (cmp_...) or a strategy id "
            "(s_...).",
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_.:-]+$",
        ),
    ],
    ctx: Ctx,
) -> Image:
    """A PNG chart of the equity curve (with trades marked, and the drawdown below) of a backtest
    run or of any strategy, running or finished."""
    png = await state(ctx).backtests().chart_png(strategy_id, principal(ctx))
    return Image(data=png, format="png")


def register(server: MCPServer) -> None:
    add_tool(
        server,
        run_backtest,
        title="Run a backtest",
        annotations=changes(destructive=False, idempotent=False, open_world=True),
        meta=LINKED_META,
    )
    add_tool(
        server,
        get_equity_chart,
        title="Chart equity",
        annotations=READ_ONLY,
        structured_output=None,
    )
