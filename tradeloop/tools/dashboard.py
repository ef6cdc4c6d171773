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
from tradeloop.tools._common import READ_ONLY, Ctx, StrategyId, add_tool, service


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class SymbolPrices(_Result):
    symbol: str
    points: list[tuple[int, float]] = Field(description="(ts ms, price) at every cycle.")


class ChartSeries(_Result):
    """What the dashboard charts for one strategy; times in epoch ms, money in the quote currency."""

    strategy_id: str
    initial_capital: float
    equity: list[tuple[int, float]] = Field(description="(ts, equity) after every cycle.")
    drawdown_pct: list[tuple[int, float]] = Field(description="(ts, % below the running peak).")
    buy_and_hold: list[tuple[int, float]] = Field(
        description="(ts, value): the initial capital split equally over the symbols at their "
        "first cycle's price and held, without fees."
    )
    prices: list[SymbolPrices] = Field(description="Each symbol's price as the cycles saw it.")
    cycles: int = Field(description="Cycles stored; longer series are thinned to 2000 points.")


async def get_chart_series(strategy_id: StrategyId, ctx: Ctx) -> ChartSeries:
    """Chart series of a strategy (equity, drawdown, buy-and-hold, prices per symbol) for the
    dashboard page."""
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
    return ChartSeries(
        strategy_id=strategy_id,
        initial_capital=info.initial_capital,
        equity=series.thin(list(zip(ts, equity, strict=True))),
        drawdown_pct=series.thin(list(zip(ts, series.drawdown_pct(equity), strict=True))),
        buy_and_hold=series.thin(series.buy_and_hold(ts, prices, info.initial_capital)),
        prices=[SymbolPrices(symbol=s, points=series.thin(p)) for s, p in prices.items()],
        cycles=len(rows),
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
    add_tool(
        server,
        get_chart_series,
        title="Chart series (dashboard)",
        annotations=READ_ONLY,
        meta=APP_ONLY_META,
    )
