"""Lifecycle tools: create, start, pause, resume, stop, update, delete, list, inspect, run a cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tradeloop.dashboard.page import LINKED_META
from tradeloop.services.market import check_listed
from tradeloop.tools import _live as live
from tradeloop.tools import _views as views
from tradeloop.tools._common import (
    READ_ONLY,
    Ctx,
    StrategyId,
    add_tool,
    changes,
    service,
    state,
)
from tradeloop.tools._config import StrategyParams, config_arguments
from tradeloop.tools.models import (
    CycleOutcome,
    Deleted,
    StatusChange,
    StrategyCreated,
    StrategyDetail,
    StrategyList,
)
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import StrategyStatus

if TYPE_CHECKING:
    from tradeloop.services.models import StrategyInfo


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
    "rules",
    "feature_intervals",
    "exchange",
    "market_type",
    "name",
    "max_drawdown_pct",
    "max_order_value",
)
"""The configuration create_strategy takes."""

CHANGES = (
    "name",
    "decide_interval",
    "max_leverage",
    "max_positions",
    "composer",
    "strategy_prompt",
    "template",
    "feature_intervals",
    "max_drawdown_pct",
    "max_order_value",
    "rules",
    "llm_model",
)
"""What update_strategy can change."""


@config_arguments(*CONFIG)
async def create_strategy(
    config: StrategyParams,
    ctx: Ctx,
    trading_mode: Annotated[
        Literal["paper", "live"],
        Field(
            description="'paper' simulates fills (default); 'live' needs the operator's live gate."
        ),
    ] = "paper",
    testnet: Annotated[
        bool, Field(description="Live trading on the exchange's testnet (no real funds).")
    ] = False,
    credentials_name: Annotated[
        str | None,
        Field(
            description="Live trading: the name of the API credentials the operator configured "
            "on the server (the keys themselves never pass through here).",
            pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        ),
    ] = None,
    confirmation_token: live.ConfirmationToken = None,
    confirmation: live.CreateConfirmation = None,  # type: ignore[assignment]  # resolved by the SDK
) -> StrategyCreated:
    """Create a trading strategy (paper trading unless you ask for live). It starts in status
    'created': call start_strategy to schedule it, or run_cycle_now to run one cycle. Returns the
    strategy id and the normalized configuration."""
    if trading_mode == "live" and not live.enabled(ctx):
        raise ConfigError(
            "trading_mode: live trading is disabled on this server; only the operator can enable "
            "it (TRADELOOP_LIVE_TRADING=1 in the server's environment). Use trading_mode='paper'."
        )
    request = config.request(
        trading_mode=trading_mode, testnet=testnet, credentials_name=credentials_name
    )
    if not state(ctx).replay:
        ex = request.exchange_config
        await check_listed(request.trading_config.symbols, ex.exchange_id, ex.market_type, testnet)
    approval = await live.approve(
        ctx, "create", request, answer=confirmation, token=confirmation_token
    )
    info = await (await service(ctx)).create(request, name=config.name, approval=approval)
    return views.created(info)


async def start_strategy(
    strategy_id: StrategyId,
    ctx: Ctx,
    confirmation_token: live.ConfirmationToken = None,
    confirmation: live.StartConfirmation = None,  # type: ignore[assignment]  # resolved by the SDK
) -> StatusChange:
    """Start a created (or stopped) strategy: its cycles run every decide_interval seconds while
    the server runs, and resume after a restart. A live strategy needs a human confirmation."""
    svc = await service(ctx)
    info = await svc.get(strategy_id)
    approval = await live.approve(
        ctx,
        "start",
        info.request,
        strategy_id=strategy_id,
        answer=confirmation,
        token=confirmation_token,
    )
    info = await svc.start(strategy_id, approval=approval)
    return views.status_change(info, _running_or_why(info, "started: cycles are scheduled"))


async def pause_strategy(strategy_id: StrategyId, ctx: Ctx) -> StatusChange:
    """Pause a running strategy: no more cycles until resume_strategy; positions stay open."""
    info = await (await service(ctx)).pause(strategy_id)
    return views.status_change(info, "paused: no cycles run; positions are kept")


async def resume_strategy(strategy_id: StrategyId, ctx: Ctx) -> StatusChange:
    """Resume a paused strategy: its cycles are scheduled again from the next slot."""
    info = await (await service(ctx)).resume(strategy_id)
    return views.status_change(info, _running_or_why(info, "resumed: cycles are scheduled again"))


async def stop_strategy(
    strategy_id: StrategyId,
    ctx: Ctx,
    close_positions: Annotated[
        bool,
        Field(description="Also close every open position (through the guardrails and gateway)."),
    ] = False,
) -> StatusChange:
    """Stop a strategy for good (it can be started again later). With close_positions=true its open
    positions are closed first (the answer's `closing` says per symbol what was closed and what
    was not); if any could not be closed it stays paused with the reason: stop again to retry.
    Without it, positions are kept as they are."""
    svc = await service(ctx)
    outcome = await svc.stop_closing(strategy_id, close_positions=close_positions)
    info = outcome.info
    closed = [line.symbol for line in outcome.closing if line.done]
    message = "stopped" if info.status is StrategyStatus.STOPPED else f"not stopped: {info.reason}"
    return views.status_change(info, message, closed_positions=closed, closing=outcome.closing)


@config_arguments(*CHANGES, all_optional=True)
async def update_strategy(
    strategy_id: StrategyId, config: StrategyParams, ctx: Ctx
) -> StrategyDetail:
    """Change a strategy's settings; pass only what changes (rules: only the thresholds given
    change). Takes effect at its next cycle."""
    svc = await service(ctx)
    updates = config.given()
    if "strategy_prompt" in updates:
        updates["custom_prompt"] = updates.pop("strategy_prompt")
    rules = updates.pop("rules", None)
    if rules is not None and rules.given():
        current = (await svc.get(strategy_id)).request.trading_config.rules
        updates["rules"] = {**current.model_dump(), **rules.given()}
    llm_model = updates.pop("llm_model", None)
    if llm_model is not None:
        updates["llm_model_config"] = llm_model.to_config()  # the whole model, as at create
    if not updates:
        raise ConfigError(
            "update_strategy needs at least one setting to change: name, decide_interval, "
            "max_leverage, max_positions, composer, strategy_prompt, template, feature_intervals, "
            "max_drawdown_pct, max_order_value, rules or llm_model"
        )
    info = await svc.update(strategy_id, **updates)
    return views.detail(info)


async def delete_strategy(strategy_id: StrategyId, ctx: Ctx) -> Deleted:
    """Delete a strategy and its whole history (cycles, trades). It must not be running: stop it
    first. This cannot be undone."""
    await (await service(ctx)).delete(strategy_id)
    return Deleted(strategy_id=strategy_id)


async def list_strategies(
    ctx: Ctx,
    status: Annotated[
        StrategyStatus | None, Field(description="Only strategies with this status.")
    ] = None,
) -> StrategyList:
    """List strategies with their status, equity, PnL, next run and whether they replay history."""
    items = [views.summary(i) for i in await (await service(ctx)).list(status)]
    return StrategyList(strategies=items, count=len(items))


async def get_strategy(strategy_id: StrategyId, ctx: Ctx) -> StrategyDetail:
    """One strategy: status, normalized config, equity, PnL, next run, data source."""
    return views.detail(await (await service(ctx)).get(strategy_id))


async def run_cycle_now(strategy_id: StrategyId, ctx: Ctx) -> CycleOutcome:
    """Run one decision cycle now (features -> decision -> guardrails -> execution) and return
    what it did. On replayed data each call steps the simulated clock by decide_interval."""
    return views.cycle_outcome(await (await service(ctx)).run_cycle_now(strategy_id))


async def preview_decision(strategy_id: StrategyId, ctx: Ctx) -> CycleOutcome:
    """Compose a decision on the current state and pass it through the guardrails without
    executing or storing anything: what the strategy would do right now."""
    result = await (await service(ctx)).preview_decision(strategy_id)
    return views.cycle_outcome(result, executed=False)


def _running_or_why(info: StrategyInfo, message: str) -> str:
    """A live strategy whose reconciliation failed is paused instead: say why."""
    if info.status is StrategyStatus.RUNNING:
        return message
    return f"not running ({info.status.value}): {info.reason}"


def register(server: MCPServer) -> None:
    add_tool(
        server,
        create_strategy,
        title="Create a strategy",
        annotations=changes(destructive=False, idempotent=False, open_world=True),
    )
    for fn, title in (
        (start_strategy, "Start a strategy"),
        (pause_strategy, "Pause a strategy"),
        (resume_strategy, "Resume a strategy"),
    ):
        add_tool(server, fn, title=title, annotations=changes(destructive=False, idempotent=True))
    add_tool(
        server,
        stop_strategy,
        title="Stop a strategy",
        annotations=changes(destructive=True, idempotent=True, open_world=True),
    )
    add_tool(
        server,
        update_strategy,
        title="Update a strategy",
        annotations=changes(destructive=False, idempotent=True),
    )
    add_tool(
        server,
        delete_strategy,
        title="Delete a strategy",
        annotations=changes(destructive=True, idempotent=True),
    )
    add_tool(server, list_strategies, title="List strategies", annotations=READ_ONLY)
    add_tool(server, get_strategy, title="Get a strategy", annotations=READ_ONLY, meta=LINKED_META)
    add_tool(
        server,
        run_cycle_now,
        title="Run one cycle now",
        annotations=changes(destructive=False, idempotent=False, open_world=True),
    )
    add_tool(
        server,
        preview_decision,
        title="Preview a decision",
        annotations=READ_ONLY.model_copy(
            update={"idempotent_hint": False, "open_world_hint": True}
        ),
    )
