"""The human confirmation in front of live trading, for create_strategy and start_strategy.

The operator setting (``TRADELOOP_LIVE_TRADING``) comes first: without it a live request is refused
and nothing is asked. With it, a human must confirm the exact request:

* clients that can ask their user (``elicitation`` capability) get a yes/no question, through a
  ``Resolve`` parameter that never appears in the tool's input schema;
* other clients get a two-step flow: the first call is refused with a plain-words summary and a
  single-use token bound to exactly these parameters (short TTL); the model shows the summary to
  the human and, if they agree, repeats the call with ``confirmation_token``.

Either way the result is a ``LiveApproval`` made by the strategy service's ``LiveGate``, which the
service checks again before anything reaches the venue.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from pydantic import BaseModel, Field

from tradeloop.services.live_gate import (
    Action,
    LiveApproval,
    LiveGate,
    describe,
    live_params,
)
from tradeloop.tools._common import Ctx, service, state
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import TradingMode, UserRequest


class LiveConfirmation(BaseModel):
    confirm: bool = Field(description="Yes: trade with real funds exactly as described.")


ConfirmationToken = Annotated[
    str | None,
    Field(
        description="Live trading only, for clients without confirmation dialogs: the token from "
        "the previous call's confirmation request, after the human agreed to its summary.",
        max_length=200,
    ),
]


def enabled(ctx: Ctx) -> bool:
    """The operator setting (the server's configuration; no tool changes it)."""
    return state(ctx).settings.live_trading_enabled


async def gate(ctx: Ctx) -> LiveGate:
    return (await service(ctx)).live_gate


def can_elicit(ctx: Ctx) -> bool:
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def _question(action: Action, request: UserRequest, strategy_id: str | None) -> str:
    summary = describe(action, live_params(action, request, strategy_id))
    return f"Confirm live trading: {summary}. Capital {request.trading_config.initial_capital:g}."


async def ask_to_start(ctx: Ctx, strategy_id: str) -> Elicit[LiveConfirmation] | None:
    """Resolver of start_strategy: a question for live strategies on eliciting clients."""
    if not enabled(ctx) or not can_elicit(ctx):
        return None
    info = await (await service(ctx)).get(strategy_id)
    if info.trading_mode is not TradingMode.LIVE:
        return None
    return Elicit(_question("start", info.request, strategy_id), LiveConfirmation)


async def ask_to_create(
    ctx: Ctx,
    trading_mode: str,
    symbols: list[str],
    initial_capital: float,
    exchange: str,
    market_type: str,
    testnet: bool,
    max_leverage: float,
) -> Elicit[LiveConfirmation] | None:
    """Resolver of create_strategy: a question for live requests on eliciting clients."""
    if trading_mode != "live" or not enabled(ctx) or not can_elicit(ctx):
        return None
    money = "TESTNET (no real funds)" if testnet else "REAL FUNDS"
    return Elicit(
        f"Confirm live trading: create a LIVE strategy on {exchange} {market_type} with {money}; "
        f"symbols {', '.join(symbols)}; capital: the account's available cash not held by "
        "other live strategies "
        f"(asked: {initial_capital:g}); max leverage {max_leverage:g}.",
        LiveConfirmation,
    )


StartConfirmation = Annotated[ElicitationResult[LiveConfirmation], Resolve(ask_to_start)]
CreateConfirmation = Annotated[ElicitationResult[LiveConfirmation], Resolve(ask_to_create)]


async def approve(
    ctx: Ctx,
    action: Action,
    request: UserRequest,
    *,
    strategy_id: str | None = None,
    answer: ElicitationResult[LiveConfirmation] | None = None,
    token: str | None = None,
) -> LiveApproval | None:
    """None for paper trading; else the gate's approval, or a ConfigError saying what to do."""
    if request.exchange_config.trading_mode is not TradingMode.LIVE:
        if token:
            raise ConfigError("confirmation_token: only live trading needs a confirmation")
        return None
    live_gate = await gate(ctx)
    live_gate.require_enabled()
    params = live_params(action, request, strategy_id)
    if answer is not None and not _unasked(answer):
        accepted = isinstance(answer, AcceptedElicitation) and answer.data.confirm
        return live_gate.approve_elicited(accepted, action, params)
    if token:
        return live_gate.redeem(token, action, params)
    issued = live_gate.issue(action, params)
    raise ConfigError(
        f"confirmation required before live trading: {issued.summary}. Show this to the user; "
        f"if they agree, call the same tool again with the same arguments and "
        f"confirmation_token='{issued.token}' (single use, valid for a short time). "
        "Nothing was created or started."
    )


def _unasked(answer: Any) -> bool:
    """The resolver returned None (paper, or a client that cannot be asked)."""
    return isinstance(answer, AcceptedElicitation) and answer.data is None
