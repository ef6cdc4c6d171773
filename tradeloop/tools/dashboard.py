"""The dashboard as an MCP App: the ``ui://tradeloop/dashboard`` resource, and the app-only tool
that gives the page its chart series (everything else it shows comes from the ordinary tools).

Hosts without MCP Apps never see a difference in the linked tools' answers: the link is only
``_meta`` on the tool definitions.
"""

from __future__ import annotations

from mcp.server.apps import Apps, ResourceCsp
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, ConfigDict, Field

from tradeloop.dashboard import series
from tradeloop.dashboard.page import APP_ONLY_META, DASHBOARD_URI, dashboard_html
from tradeloop.tools._common import READ_ONLY, Ctx, StrategyId, add_tool, service, state
from tradeloop.tools.dashboard_runs import get_run_series
from tradeloop.tools.dashboard_watch import wait_for_change


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class SymbolPrices(_Result):
    symbol: str
    points: list[tuple[int, float]] = Field(description="(ts ms, price) at every cycle.")


class SymbolCandles(_Result):
    symbol: str
    bars: list[tuple[int, float, float, float, float]] = Field(
        description="(open time ms, open, high, low, close) of every candle."
    )


class ChartSeries(_Result):
    """What the dashboard charts for one strategy; times in epoch ms, money in the quote currency."""

    strategy_id: str
    initial_capital: float
    equity: list[tuple[int, float]] = Field(description="(ts, equity) after every cycle.")
    drawdown_pct: list[tuple[int, float]] = Field(description="(ts, % below the running peak).")
    buy_and_hold: list[tuple[int, float]] = Field(
        description="(ts, value): buy-and-hold as in every backtest's baselines: equal weight "
        "bought at the first cycle's prices, with the strategy's fees and slippage in and out."
    )
    prices: list[SymbolPrices] = Field(description="Each symbol's price as the cycles saw it.")
    candle_interval: str | None = Field(default=None, description="Interval of `candles`.")
    candles: list[SymbolCandles] = Field(
        default=[],
        description="Each symbol's OHLC candles from the first cycle to the latest (closed by "
        "then), from the strategy's replay folder or venue.",
    )
    candles_note: str | None = Field(default=None, description="Why `candles` is empty.")
    cycles: int = Field(description="Cycles stored; longer series are thinned to 2000 points.")


async def get_chart_series(strategy_id: StrategyId, ctx: Ctx) -> ChartSeries:
    """Chart series of a strategy (equity, drawdown, buy-and-hold, prices and candles per symbol)
    for the dashboard page."""
    # here: candles import the service models and so the store (aiosqlite): kept out of start-up
    from tradeloop.dashboard.candles import chart_candles

    svc = await service(ctx)
    info = await svc.get(strategy_id)
    rows = await svc.chart_rows(strategy_id)
    ts = [t for t, _, _ in rows]
    equity = [e for _, e, _ in rows]
    by_symbol: dict[str, list[tuple[int, float]]] = {s: [] for s in info.symbols}
    for t, _, features in rows:
        for symbol, price in series.cycle_prices(features).items():
            by_symbol.setdefault(symbol, []).append((t, price))
    prices = {s: points for s, points in by_symbol.items() if points}
    ex = info.request.exchange_config
    hold = series.buy_and_hold(
        ts, prices, info.initial_capital, fee_bps=ex.fee_bps, slippage_bps=ex.max_slippage_bps
    )
    candles = (
        await chart_candles(info, ts[0], ts[-1], state(ctx).settings.replay_dir) if ts else None
    )
    return ChartSeries(
        strategy_id=strategy_id,
        initial_capital=info.initial_capital,
        equity=series.thin(list(zip(ts, equity, strict=True))),
        drawdown_pct=series.thin(list(zip(ts, series.drawdown_pct(equity), strict=True))),
        buy_and_hold=series.thin(hold),
        prices=[SymbolPrices(symbol=s, points=series.thin(p)) for s, p in prices.items()],
        cycles=len(rows),
        candle_interval=candles.interval if candles else None,
        candles=[
            SymbolCandles(symbol=s, bars=[(c.ts, c.open, c.high, c.low, c.close) for c in bars])
            for s, bars in (candles.bars.items() if candles else ())
        ],
        candles_note=candles.note if candles else "no cycles yet",
    )


def apps_extension() -> Apps:
    """The MCP Apps extension serving the dashboard page (it reaches no network: empty CSP)."""
    apps = Apps()
    apps.add_html_resource(
        DASHBOARD_URI,
        dashboard_html(),
        name="dashboard",
        title="tradeloop dashboard",
        description="Strategies, equity, positions, trades and cycles, with pause/resume/stop.",
        csp=ResourceCsp(),
        prefers_border=True,
    )
    return apps


def register(server: MCPServer) -> None:
    for fn, title in (
        (get_chart_series, "Chart series (dashboard)"),
        (get_run_series, "Run and comparison series (dashboard)"),
        (wait_for_change, "Wait for a change (dashboard)"),
    ):
        add_tool(server, fn, title=title, annotations=READ_ONLY, meta=APP_ONLY_META)
