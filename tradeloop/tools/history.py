"""Digest and history tools: performance, trades, cycles and everything stored for one cycle."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tradeloop.dashboard.page import LINKED_META
from tradeloop.tools import _views as views
from tradeloop.tools._common import READ_ONLY, Ctx, Cursor, PageLimit, StrategyId, add_tool, service
from tradeloop.tools._hold import buy_and_hold
from tradeloop.tools.models import CyclePage, CycleRecord, DigestResult, TradePage
from tradeloop.trading.models import CycleStatus


async def get_digest(strategy_id: StrategyId, ctx: Ctx) -> DigestResult:
    """How a strategy is doing: per-instrument trade count, realized PnL, win rate and holding
    time, plus Sharpe and Sortino ratios, max drawdown, total return, fees and LLM cost, all over
    the whole history (as a backtest of the same span reports them); sharpe_ratio_recent covers
    only the last recent_window cycles. buy_and_hold: what holding the strategy's symbols over
    the same period would have returned."""
    svc = await service(ctx)
    digest = await svc.get_digest(strategy_id)
    result = views.digest(strategy_id, digest)
    return result.model_copy(update={"buy_and_hold": await buy_and_hold(svc, strategy_id)})


Symbol = Annotated[
    str | None,
    Field(description="Only this symbol, e.g. BTC-USDT.", min_length=1, max_length=30),
]
SinceMs = Annotated[
    int | None, Field(description="Only at or after this time (epoch milliseconds).", ge=0)
]
UntilMs = Annotated[
    int | None, Field(description="Only before this time (epoch milliseconds).", ge=0)
]
NewestFirst = Annotated[
    bool, Field(description="Newest first (default: oldest first). Keep it the same across pages.")
]


async def list_trades(
    strategy_id: StrategyId,
    ctx: Ctx,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    symbol: Symbol = None,
    since_ms: SinceMs = None,
    until_ms: UntilMs = None,
    newest_first: NewestFirst = False,
) -> TradePage:
    """A strategy's trades (opens and closes with prices, PnL and fees), one page at a time;
    pass next_cursor back as cursor (with the same filters) for the next page. Each fee appears
    once: fee_cost is the fee of the entry's own fill (sum it over all entries to get fees_paid);
    a close also gives round_trip_fees (its exit fee plus the entry fees of what it closed)."""
    page = await (await service(ctx)).list_trades(
        strategy_id,
        cursor=cursor,
        limit=limit,
        symbol=symbol,
        since_ms=since_ms,
        until_ms=until_ms,
        newest_first=newest_first,
    )
    return views.trade_page(strategy_id, page)


async def list_cycles(
    strategy_id: StrategyId,
    ctx: Ctx,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    status: Annotated[
        CycleStatus | None, Field(description="Only cycles with this status (ok, skipped, error).")
    ] = None,
    symbol: Symbol = None,
    since_ms: SinceMs = None,
    until_ms: UntilMs = None,
    newest_first: NewestFirst = False,
) -> CyclePage:
    """A strategy's decision cycles, one line each (status, rationale, orders, fills, equity),
    one page at a time; get_cycle shows everything stored for one of them."""
    page = await (await service(ctx)).list_cycles(
        strategy_id,
        cursor=cursor,
        limit=limit,
        status=status,
        symbol=symbol,
        since_ms=since_ms,
        until_ms=until_ms,
        newest_first=newest_first,
    )
    return views.cycle_page(strategy_id, page)


async def get_cycle(
    compose_id: Annotated[
        str,
        Field(
            description="The cycle's compose_id (c_ followed by 32 hex digits), from list_cycles.",
            min_length=1,
            max_length=80,
            pattern=r"^[A-Za-z0-9_.:-]+$",
        ),
    ],
    ctx: Ctx,
) -> CycleRecord:
    """Everything stored for one cycle: the features it saw, the prompt and reply (or rule
    signals), proposed and guarded instructions with drop reasons, fills, trades, portfolio after."""
    return views.cycle_record(await (await service(ctx)).get_cycle(compose_id))


def register(server: MCPServer) -> None:
    add_tool(
        server,
        get_digest,
        title="Get a performance digest",
        annotations=READ_ONLY,
        meta=LINKED_META,
    )
    add_tool(server, list_trades, title="List trades", annotations=READ_ONLY)
    add_tool(server, list_cycles, title="List cycles", annotations=READ_ONLY)
    add_tool(server, get_cycle, title="Get a cycle", annotations=READ_ONLY)
