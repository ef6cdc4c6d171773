"""Commands asked of a replica that does not run the strategy, run by the one that does.

A cycle on demand (run_cycle_now, close_position, stop with close_positions) needs the strategy's
ledger and exchange link, which live in the replica holding its lease. When another replica holds
it (``OwnedElsewhere``), the replica asked writes the command for the owner to the database
(``store.postgres.commands``) and waits for its answer::

    asked replica                 database                         owner
    ask: row 'sent', NOTIFY  -->  commands  -->  LISTEN: claim ('sent' -> 'running'),
                                                 run it as if asked there
    LISTEN or poll the row   <--  commands  <--  answer ('done' | 'failed'), NOTIFY

The answer is what the owner's own method returned (JSON), or its error raised again with the
same class and message; an owner that lost the strategy meanwhile answers ``OwnedElsewhere``
without running anything, and the command goes on to the new owner (a few hops at most).

Exactly once: only the claim runs a command, and a claim is one conditional UPDATE. The asked
replica waits ``wait_s`` (LISTEN, and a poll of the row in case a notification was lost); then a
command nobody claimed is abandoned in one conditional UPDATE too, so it never runs late
(``CommandNotTaken``: it did not run); one claimed but unanswered (the owner died or was cut off
mid-command) raises ``CommandUnanswered``, saying it may have run: it is never sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from pydantic import TypeAdapter

from tradeloop.store.postgres.commands import Command, PgCommands
from tradeloop.trading import errors
from tradeloop.trading.errors import ConfigError, OperationalError, TemporaryError, TradeloopError
from tradeloop.trading.utils import new_id

logger = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[str]]
"""Runs a command here: (strategy_id, args) -> the answer as JSON."""
MAX_HOPS = 3
POLL_S = 0.5
"""How often a waiting replica reads the command row, in case a notification was lost."""
_ERRORS: dict[str, type[TradeloopError]] = {
    cls.__name__: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, TradeloopError)
}


class OwnedElsewhere(ConfigError):
    """Another replica runs the strategy: a cycle on demand must run there."""

    def __init__(self, strategy_id: str, owner: str) -> None:
        super().__init__(f"strategy {strategy_id} is running on replica {owner}")
        self.strategy_id = strategy_id
        self.owner = owner


class CommandNotTaken(TemporaryError):
    """The owner did not take the command in time; it did not run and never will."""


class CommandUnanswered(OperationalError):
    """The owner took the command but did not answer in time: it may have run."""


class Relayed[T]:
    """A command run here when this replica may, else by the replica running the strategy, with
    the same answer: ``here(strategy_id, args)`` raises ``OwnedElsewhere`` before it changes
    anything when another replica runs the strategy; ``answers`` (de)codes the result as JSON.
    Made once per kind: it also answers that kind when another replica relays it here."""

    def __init__(
        self,
        kind: str,
        here: Callable[[str, dict[str, Any]], Awaitable[T]],
        answers: TypeAdapter[T],
        keeper: RelayKeeper,
    ) -> None:
        self.kind = kind
        self._here = here
        self._answers = answers
        self._keeper = keeper
        keeper.handle(kind, self._answer)

    async def __call__(self, strategy_id: str, **args: Any) -> T:
        try:
            return await self._here(strategy_id, args)
        except OwnedElsewhere as elsewhere:
            answer = await self._keeper.ask(elsewhere, self.kind, args)
            return self._answers.validate_json(answer)

    async def _answer(self, strategy_id: str, args: dict[str, Any]) -> str:
        return self._answers.dump_json(await self._here(strategy_id, args)).decode()


class RelayKeeper(Protocol):
    """What ``Relayed`` needs of the lease keeper (``LeaseKeeper``, or ``SoleOwner``)."""

    def handle(self, kind: str, handler: Handler) -> None: ...

    async def ask(self, elsewhere: OwnedElsewhere, kind: str, args: dict[str, Any]) -> str: ...


class CommandRelay:
    def __init__(
        self, commands: PgCommands, replica: str, *, wait_s: float, sweep_s: float
    ) -> None:
        self._commands = commands
        self.replica = replica
        self.wait_s = wait_s
        self._sweep_s = sweep_s
        self._handlers: dict[str, Handler] = {}
        self._answered: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unlisten: Callable[[], Awaitable[None]] | None = None

    def handle(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    # ------------------------------------------------------------------ asking

    async def ask(
        self,
        owner: str,
        strategy_id: str,
        kind: str,
        args: dict[str, Any],
        *,
        principal: str | None = None,
    ) -> str:
        """Have ``owner`` run ``kind`` on ``strategy_id``; its answer (JSON), or its error.
        ``principal`` (who asked) travels with the command for the owner to check (issue 15)."""
        for _ in range(MAX_HOPS):
            command = Command(
                new_id("cmd"), strategy_id, kind, json.dumps(args), principal,
                self.replica, owner, "sent", None,
            )  # fmt: skip
            row = await self._exchange(command)
            if row.state == "done" and row.answer is not None:
                return row.answer
            error = _decode_error(row.answer, strategy_id)
            if not isinstance(error, OwnedElsewhere):
                raise error
            if error.owner == self.replica and kind in self._handlers:  # it moved here meanwhile
                return await self._handlers[kind](strategy_id, args)
            owner = error.owner  # it moved before the owner took it: nothing ran, ask the new one
        raise CommandNotTaken(f"{kind} of strategy {strategy_id}: its owner kept changing")

    async def _exchange(self, command: Command) -> Command:
        answered = self._answered[command.id] = asyncio.Event()
        try:
            await self._commands.send(command, int(self.wait_s * 1000))
            logger.info("relayed %s strategy_id=%s to %s", *_about(command))
            return await self._answer(command, answered)
        finally:
            self._answered.pop(command.id, None)

    async def _answer(self, command: Command, answered: asyncio.Event) -> Command:
        deadline = time.monotonic() + self.wait_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(answered.wait(), min(POLL_S, left))
            except TimeoutError:
                pass
            answered.clear()
            row = await self._commands.get(command.id)
            if row is None or row.state in ("done", "failed"):
                return _gone(command) if row is None else row
        if await self._commands.abandon(command.id):
            raise CommandNotTaken(
                f"{command.kind} of strategy {command.strategy_id} was not taken by replica"
                f" {command.target}, which runs it, within {self.wait_s:g} s: it did not run and"
                " never will (if that replica is down, another takes the strategy over within"
                " the lease time)"
            )
        row = await self._commands.get(command.id)
        if row is not None and row.state in ("done", "failed"):
            return row
        raise CommandUnanswered(
            f"{command.kind} of strategy {command.strategy_id} was started by replica"
            f" {command.target} but not answered within {self.wait_s:g} s: it may have run (a"
            " cycle is stored whole or not at all: list_cycles shows whether it was); it is"
            " never run twice"
        )

    # ------------------------------------------------------------------ answering

    async def start(self) -> None:
        """Listen for commands sent here and for answers; take what was sent meanwhile."""
        self._unlisten = await self._commands.listen(self._heard_sent, self._heard_answered)
        self._spawn(self._sweep(), name="tradeloop-commands")

    async def stop(self) -> None:
        if self._unlisten is not None:
            try:
                await self._unlisten()
            except Exception as exc:
                logger.warning("could not stop listening for commands (%s)", exc)
            self._unlisten = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _heard_sent(self, target: str) -> None:
        if target == self.replica:
            self._spawn(self._take_now())

    def _heard_answered(self, command_id: str) -> None:
        answered = self._answered.get(command_id)
        if answered is not None:
            answered.set()

    async def _sweep(self) -> None:
        """Commands whose notification was lost (a listening connection that broke)."""
        while True:
            await asyncio.sleep(self._sweep_s)
            await self._take_now()

    async def _take_now(self) -> None:
        try:
            await self.take()
        except Exception as exc:  # the database unreachable: the next sweep tries again
            logger.warning("taking commands failed (%s: %s)", type(exc).__name__, exc)

    async def take(self) -> None:
        """Claim the commands sent here and run each (concurrently: each waits for its own
        strategy's lock)."""
        for command in await self._commands.claim(self.replica):
            self._spawn(self._run(command))

    async def _run(self, command: Command) -> None:
        failed, answer = True, ""
        try:
            handler = self._handlers.get(command.kind)
            if handler is None:
                raise ConfigError(f"replica {self.replica} cannot run {command.kind!r}")
            answer, failed = await handler(command.strategy_id, json.loads(command.args)), False
        except TradeloopError as exc:
            answer = _encode_error(exc)
        except Exception as exc:  # the command boundary: the caller hears of every failure
            logger.exception("%s strategy_id=%s failed", command.kind, command.strategy_id)
            failure = f"{command.kind} failed on replica {self.replica} ({type(exc).__name__})"
            answer = _encode_error(OperationalError(f"{failure}: its log has the details"))
        try:
            await self._commands.finish(command.id, failed=failed, answer=answer)
        except Exception as exc:
            logger.warning("could not answer %s (%s); the caller times out", command.id, exc)

    def _spawn(self, work: Awaitable[None], name: str | None = None) -> None:
        task = asyncio.ensure_future(work)
        if name is not None:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _encode_error(exc: TradeloopError) -> str:
    kind = next(cls.__name__ for cls in type(exc).__mro__ if cls.__name__ in _ERRORS)
    owner = exc.owner if isinstance(exc, OwnedElsewhere) else None
    return json.dumps({"error": kind, "message": str(exc), "owner": owner})


def _decode_error(answer: str | None, strategy_id: str) -> TradeloopError:
    body = json.loads(answer or "{}")
    if body.get("owner"):
        return OwnedElsewhere(strategy_id, body["owner"])
    return _ERRORS.get(body.get("error", ""), OperationalError)(body.get("message", "no answer"))


def _about(command: Command) -> tuple[str, str, str]:
    return command.kind, command.strategy_id, command.target


def _gone(command: Command) -> Command:
    """The command row vanished: its strategy was deleted meanwhile."""
    message = f"strategy {command.strategy_id} was deleted while {command.kind} waited"
    return replace(
        command, state="failed", answer=json.dumps({"error": "NotFound", "message": message})
    )
