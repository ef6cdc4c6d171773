"""The app-only tool that keeps the dashboard current inside a chat host without polling.

The MCP Apps bridge (io.modelcontextprotocol/ui, 2026-01-26 and the draft) gives a page no push
from the server: the host sends it the input and result of the one tool call that opened it, and
the page may call tools, read resources and list tools; ``notifications/resources/updated`` and
resource subscriptions are not part of it. So the page asks ``wait_for_change`` and the server
answers when a cycle is stored or a status changes (or after ``timeout_s`` with nothing), and the
page asks again: a long poll over the tool channel, one request per change or per idle timeout.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tradeloop.tools._common import Ctx, service

MAX_WAIT_S = 50


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    changed: bool = Field(description="False: nothing happened within timeout_s; ask again.")
    strategy_ids: list[str] = Field(description="Strategies with a new cycle or status.")


async def wait_for_change(
    ctx: Ctx,
    strategy_id: Annotated[
        str | None,
        Field(
            description="The strategy the page shows; with `cycles` and `status`, an answer "
            "comes at once when it has already moved on.",
            max_length=64,
            pattern=r"^[A-Za-z0-9_.:-]+$",
        ),
    ] = None,
    cycles: Annotated[int | None, Field(description="Cycles the page has drawn.", ge=0)] = None,
    status: Annotated[
        str | None, Field(description="Status the page shows.", max_length=20)
    ] = None,
    timeout_s: Annotated[
        float, Field(description="Longest wait for a change (seconds).", gt=0, le=MAX_WAIT_S)
    ] = 25,
) -> Change:
    """Wait until a strategy stores a cycle or changes status (for the dashboard page)."""
    svc = await service(ctx)
    queue = svc.subscribe()  # before the check below, so no change falls between the two
    try:
        if strategy_id is not None and (cycles is not None or status is not None):
            info = await svc.get(strategy_id)
            if (cycles is not None and info.cycles != cycles) or (
                status is not None and info.status.value != status
            ):
                return Change(changed=True, strategy_ids=[strategy_id])
        try:
            first = await asyncio.wait_for(queue.get(), timeout_s)
        except TimeoutError:
            return Change(changed=False, strategy_ids=[])
        ids = [first.strategy_id]
        while not queue.empty():
            event = queue.get_nowait()
            if event.strategy_id not in ids:
                ids.append(event.strategy_id)
        return Change(changed=True, strategy_ids=ids)
    finally:
        svc.unsubscribe(queue)
