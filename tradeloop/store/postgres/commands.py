"""Commands relayed between replicas on PostgreSQL (migration ``0010_commands.sql``).

A command row moves ``sent -> running -> done | failed`` or ``sent -> abandoned``; each move is
one conditional ``UPDATE``, so that of a target claiming and a caller giving up exactly one wins,
and a command runs at most once. ``SENT`` is notified with the target replica's id when a command
is written, ``ANSWERED`` with the command's id when it is answered; both are sent on commit.
Times are the database's clock in ms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradeloop.store.postgres.db import PgDatabase  # asyncpg: imported where it is used

SENT = "tradeloop_command_sent"
ANSWERED = "tradeloop_command_answered"
PRUNE_AFTER_MS = 3_600_000

_NOW = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
_COLUMNS = "id, strategy_id, kind, args, principal, sender, target, state, answer"
_SEND = f"""INSERT INTO commands
    (id, strategy_id, kind, args, principal, sender, target, state, sent_at, deadline_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'sent', {_NOW}, {_NOW} + $8)"""
_CLAIM = f"""UPDATE commands SET state = 'running', started_at = {_NOW}
WHERE target = $1 AND state = 'sent' AND deadline_at > {_NOW}
RETURNING {_COLUMNS}"""


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    strategy_id: str
    kind: str
    args: str
    """JSON object."""
    principal: str | None
    """Who asked (issue 15); None: the implicit owner."""
    sender: str
    target: str
    state: str
    answer: str | None
    """JSON, once ``done`` or ``failed``."""


class PgCommands:
    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def send(self, command: Command, wait_ms: int) -> None:
        """Write ``command`` (state ``sent``, claimable for ``wait_ms``) and notify its target;
        rows an hour past their deadline go."""
        async with self._db.transaction() as conn:
            await conn.execute(
                f"DELETE FROM commands WHERE deadline_at < {_NOW} - {PRUNE_AFTER_MS}"
            )
            await conn.execute(
                _SEND,
                command.id,
                command.strategy_id,
                command.kind,
                command.args,
                command.principal,
                command.sender,
                command.target,
                wait_ms,
            )
            await conn.execute("SELECT pg_notify($1, $2)", SENT, command.target)

    async def claim(self, target: str) -> list[Command]:
        """The commands sent to ``target`` and not yet past their deadline, now ``running``
        (nobody else can claim nor abandon them)."""
        async with self._db.transaction() as conn:
            rows = await conn.fetch(_CLAIM, target)
        return [Command(*row) for row in rows]

    async def finish(self, command_id: str, *, failed: bool, answer: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                f"UPDATE commands SET state = $2, answer = $3, finished_at = {_NOW}"
                " WHERE id = $1 AND state = 'running'",
                command_id,
                "failed" if failed else "done",
                answer,
            )
            await conn.execute("SELECT pg_notify($1, $2)", ANSWERED, command_id)

    async def abandon(self, command_id: str) -> bool:
        """Give up a command nobody claimed yet; False when it was claimed (it runs or ran)."""
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                f"UPDATE commands SET state = 'abandoned', finished_at = {_NOW}"
                " WHERE id = $1 AND state = 'sent' RETURNING id",
                command_id,
            )
        return row is not None

    async def get(self, command_id: str) -> Command | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM commands WHERE id = ?", (command_id,)
        )
        return None if row is None else Command(*row)

    async def listen(
        self, on_sent: Callable[[str], None], on_answered: Callable[[str], None]
    ) -> Callable[[], Awaitable[None]]:
        """``on_sent(target)`` when a command is sent, ``on_answered(command_id)`` when one is
        answered; returns the function that stops listening."""
        return await self._db.listen({SENT: on_sent, ANSWERED: on_answered})
