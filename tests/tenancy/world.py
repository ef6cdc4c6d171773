"""Principals of one shared server, each with its own MCP session over HTTP and every kind of id.

Each principal owns a paused strategy with cycles, trades and open positions, a stopped one with
a cycle (so everything it shows is dated by its history, not the clock), a stored backtest run and
a comparison; their names and initial capital are its own. Tests drive
the sessions synchronously through one blocking portal (hypothesis wants plain functions).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ImageContent, TextContent, Tool

from tests.tenancy.served import Served
from tradeloop.services.principals import OWNER_NAME

PRINCIPALS = ("alice", "bob", "carol")
"""alice and bob sign in with OAuth JWTs, carol with a tokens-file token (``served``)."""
CAPITAL = {"alice": 11_111.25, "bob": 22_222.5, "carol": 33_333.75}
"""Distinctive values: one appearing in another principal's answer is a leak."""
WINDOW = {"start": "2025-01-01", "end": "2025-01-03"}
TRADES_AT_ONCE = {"rsi_buy_below": 99, "rsi_sell_above": 100}
"""Rules that open a long in every flat symbol: the first cycle leaves trades and positions."""


@dataclass(frozen=True)
class Answer:
    """What the caller reads: the error flag and every text (blocks and structured content)."""

    is_error: bool
    text: str


@dataclass
class Holdings:
    """Everything one principal made, by kind."""

    trading_id: str
    idle_id: str
    run_id: str
    comparison_id: str
    compose_ids: list[str]
    names: list[str]
    capital: float
    created: list[str] = field(default_factory=list)
    """Strategies tests made later (they are the principal's too)."""

    def strategy_ids(self) -> list[str]:
        return [self.trading_id, self.idle_id, self.run_id, *self.created]

    def ids(self) -> list[str]:
        return [*self.strategy_ids(), self.comparison_id, *self.compose_ids]

    def identifiers(self) -> list[str]:
        """Every id, name and distinctive value: none may reach another principal."""
        return [*self.ids(), *self.names, repr(self.capital)]


@dataclass(repr=False)
class World:
    portal: BlockingPortal
    served: Served
    sessions: dict[str, Client]
    holdings: dict[str, Holdings] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"World({', '.join(self.sessions)} at {self.served.url})"

    def call(self, who: str, tool: str, args: dict[str, Any]) -> Answer:
        try:
            result = self.portal.call(self.sessions[who].call_tool, tool, args)
        except MCPError as exc:
            return Answer(True, f"protocol error {exc.error.code}: {exc.error.message}")
        return tool_answer(result)

    def ok(self, who: str, tool: str, **args: Any) -> dict[str, Any]:
        """Call a tool that must succeed; its structured content."""
        result = self.portal.call(self.sessions[who].call_tool, tool, args)
        assert not result.is_error, (tool, tool_answer(result).text)
        assert result.structured_content is not None
        return result.structured_content

    def read(self, who: str, uri: str) -> Answer:
        try:
            result = self.portal.call(self.sessions[who].read_resource, uri)
        except MCPError as exc:
            return Answer(True, f"protocol error {exc.error.code}: {exc.error.message}")
        return Answer(False, "\n".join(getattr(c, "text", "<blob>") for c in result.contents))

    def prompt(self, who: str, name: str, args: dict[str, str]) -> Answer:
        try:
            result = self.portal.call(self.sessions[who].get_prompt, name, args)
        except MCPError as exc:
            return Answer(True, f"protocol error {exc.error.code}: {exc.error.message}")
        return Answer(False, "\n".join(_text(m.content) for m in result.messages))

    def tools(self) -> list[Tool]:
        return self.portal.call(self.sessions[PRINCIPALS[0]].list_tools).tools

    def listed(self, who: str, method: str) -> Answer:
        """The JSON of a list method's answer (list_resources, list_prompts, ...)."""
        result = self.portal.call(getattr(self.sessions[who], method))
        return Answer(False, result.model_dump_json(by_alias=True))

    def others(self, who: str) -> list[str]:
        return [p for p in self.holdings if p != who]

    def foreign_identifiers(self, who: str) -> list[str]:
        return [i for other in self.others(who) for i in self.holdings[other].identifiers()]

    def snapshot(self, who: str) -> list[Answer]:
        """What ``who`` reads about everything it made in ``populate`` (equal before and after
        others' calls: nobody else changed it; strategies made later may be dated by the clock)."""
        held = self.holdings[who]
        reads = [
            (tool, {"strategy_id": sid})
            for sid in (held.trading_id, held.idle_id, held.run_id)
            for tool in ("get_strategy", "get_portfolio", "list_cycles", "list_trades")
        ]
        reads += [("get_run_series", {"run_id": rid}) for rid in (held.run_id, held.comparison_id)]
        reads += [("get_cycle", {"compose_id": cid}) for cid in held.compose_ids]
        return [self.call(who, tool, args) for tool, args in reads]


def tool_answer(result: CallToolResult) -> Answer:
    parts = [_text(block) for block in result.content]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, sort_keys=True))
    return Answer(result.is_error, "\n".join(parts))


def _text(block: object) -> str:
    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, ImageContent):
        return f"<image {block.mime_type}>"
    return f"<{type(block).__name__}>"


@asynccontextmanager
async def session(served: Served, subject: str, scope: str | None = None) -> AsyncIterator[Client]:
    """A real MCP client session over HTTP, signed in as ``subject`` (``Served.bearer``; with
    ``scope``: a JWT with that scope)."""
    token = served.bearer(subject) if scope is None else served.token(subject, scope=scope)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        async with Client(streamable_http_client(served.url, http_client=http)) as client:
            yield client


@contextmanager
def world_of(served: Served, principals: tuple[str, ...] = PRINCIPALS) -> Iterator[World]:
    """Every principal signed in and holding one of each kind of id; the implicit owner (the
    operator's static token) signed in, holding nothing."""
    with start_blocking_portal() as portal, ExitStack() as stack:
        sessions = {
            who: stack.enter_context(portal.wrap_async_context_manager(session(served, who)))
            for who in (*principals, OWNER_NAME)
        }
        world = World(portal, served, sessions)
        world.holdings = portal.call(_populate_all, {who: sessions[who] for who in principals})
        yield world


async def _populate_all(sessions: dict[str, Client]) -> dict[str, Holdings]:
    holdings: dict[str, Holdings] = {}

    async def one(who: str) -> None:
        holdings[who] = await populate(who, sessions[who])

    async with anyio.create_task_group() as tasks:
        for who in sessions:
            tasks.start_soon(one, who)
    return holdings


async def populate(who: str, client: Client) -> Holdings:
    """One of each kind of id for ``who``: made through the tools, as a user would."""

    async def ok(tool: str, **args: Any) -> dict[str, Any]:
        result = await client.call_tool(tool, args)
        assert not result.is_error, (who, tool, tool_answer(result).text)
        assert result.structured_content is not None
        return result.structured_content

    tag = secrets.token_hex(3)
    names = [f"{who}-momentum-{tag}", f"{who}-idle-{tag}", f"{who}-backtest-{tag}"]
    labels = [f"{who}-fast-{tag}", f"{who}-slow-{tag}"]
    config = {"symbols": ["BTC-USDT", "ETH-USDT"], "initial_capital": CAPITAL[who]}
    trading = await ok("create_strategy", **config, name=names[0], rules=TRADES_AT_ONCE)
    sid = trading["strategy_id"]
    compose_ids = [(await ok("run_cycle_now", strategy_id=sid))["compose_id"] for _ in range(2)]
    await ok("start_strategy", strategy_id=sid)
    await ok("pause_strategy", strategy_id=sid)
    idle = (await ok("create_strategy", **config, name=names[1]))["strategy_id"]
    compose_ids.append((await ok("run_cycle_now", strategy_id=idle))["compose_id"])
    await ok("stop_strategy", strategy_id=idle)
    run = await ok("run_backtest", **config, **WINDOW, name=names[2])
    compared = await ok(
        "compare_strategies",
        strategies=[{"label": label, "symbols": ["BTC-USDT"]} for label in labels],
        **WINDOW,
    )
    return Holdings(
        trading_id=sid,
        idle_id=idle,
        run_id=run["run_id"],
        comparison_id=compared["comparison_id"],
        compose_ids=compose_ids,
        names=names + labels,
        capital=CAPITAL[who],
    )
