"""Leased ownership: replicas sharing one PostgreSQL database split the running strategies.

Each running strategy is run by the one replica holding its lease row (``store.postgres.leases``).
Every heartbeat (a third of the lease time) a replica renews its leases, drops the strategies
whose lease it lost (expired, or the strategy no longer running: paused or stopped by a command
given to any replica), and takes free or expired ones up to its fair share (the least loaded
take). A replica that cannot renew stops cycling before its leases expire: a slot runs only while
the last successful renewal, counted from when it was sent, is younger than the lease time less
one heartbeat. A takeover resumes a strategy like a restart: the slots missed meanwhile are
recorded as one skipped cycle, never traded late; ``UNIQUE (strategy_id, slot_ts)`` stays the
last guard against two owners of one slot.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tradeloop.services.loaded import LoadedStrategy
from tradeloop.services.slots.ownership import SlotOwnership
from tradeloop.services.slots.relay import CommandRelay, Handler, OwnedElsewhere
from tradeloop.store.backend import Store
from tradeloop.store.leases import Lease
from tradeloop.store.strategies import StrategyRow
from tradeloop.trading.models import StrategyStatus

if TYPE_CHECKING:
    from tradeloop.services.registry import StrategyRegistry
    from tradeloop.services.slots.runner import SlotRunner

logger = logging.getLogger(__name__)


class LeaseStore(Protocol):
    async def take(
        self, owner: str, ttl_ms: int, limit: int, only: str | None = None
    ) -> list[str]: ...

    async def renew(self, owner: str, strategy_ids: Iterable[str], ttl_ms: int) -> set[str]: ...

    async def release(self, owner: str, strategy_ids: Iterable[str]) -> None: ...

    async def fair_share(self, owner: str) -> int: ...

    async def present(self, owner: str, ttl_ms: int) -> None: ...

    async def absent(self, owner: str) -> None: ...

    async def owner_of(self, strategy_id: str) -> str | None: ...

    async def of(self, strategy_ids: Iterable[str]) -> dict[str, Lease]: ...

    async def listen(self, on_change: Callable[[str], None]) -> Callable[[], Awaitable[None]]: ...


def replica_id() -> str:
    """This process's name in lease rows: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasedOwnership(SlotOwnership):
    def __init__(
        self,
        leases: LeaseStore,
        *,
        ttl_s: float,
        replica: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases = leases
        self.replica = replica or replica_id()
        self.ttl_s = ttl_s
        self.heartbeat_s = ttl_s / 3
        self.held: set[str] = set()
        self._taken_at: dict[str, float] = {}
        """When (monotonic, before asking) each lease held was taken by a heartbeat."""
        self._monotonic = monotonic
        self._valid_until = 0.0
        self.last_contact: float | None = None
        """When (monotonic) the database last answered a renewal: what ``/readyz`` reads."""

    def take(self, running: Sequence[StrategyRow]) -> list[StrategyRow]:
        return [row for row in running if row.id in self.held]

    def may_run(self, loaded: LoadedStrategy, slot: int | None = None) -> bool:
        """Also: the lease held and renewed recently enough, and ``loaded`` read from the store
        after the lease was taken (a copy loaded here before it, e.g. while it was another
        replica's, may lag the cycles that replica ran: it waits for the resume that rebuilds
        it)."""
        sid = loaded.strategy_id
        return (
            sid in self.held
            and self._monotonic() < self._valid_until
            and loaded.loaded_at > self._taken_at.get(sid, -math.inf)
            and super().may_run(loaded, slot)
        )

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl_s * 1000)

    async def renew(self) -> set[str]:
        """Renew what is held; returns the strategies lost. Raises when the database cannot be
        reached (the leases then run out here, and ``may_run`` says no before they expire)."""
        sent = self._monotonic()
        kept = await self.leases.renew(self.replica, self.held, self.ttl_ms)
        self._valid_until = sent + self.ttl_s - self.heartbeat_s
        self.last_contact = sent
        lost, self.held = self.held - kept, kept
        for strategy_id in lost:
            self._taken_at.pop(strategy_id, None)
        return lost

    async def acquire(self) -> tuple[list[str], list[str]]:
        """Announce this replica, then take free or expired leases up to its fair share; returns
        (strategies taken, strategies over the share to give back: ``release`` them once they
        stopped running here)."""
        sent = self._monotonic()
        await self.leases.present(self.replica, self.ttl_ms)
        self.last_contact = sent
        share = await self.leases.fair_share(self.replica)
        over = sorted(self.held)[share:]
        taken = await self.leases.take(self.replica, self.ttl_ms, share - len(self.held))
        if taken and not self.held:
            self._valid_until = sent + self.ttl_s - self.heartbeat_s
        self.held.update(taken)
        self._taken_at.update(dict.fromkeys(taken, sent))
        return taken, over

    @property
    def renewing(self) -> bool:
        """The database answered within the last lease time less a heartbeat (the same bound
        ``may_run`` keeps: past it, this replica runs nothing)."""
        last = self.last_contact
        return last is not None and self._monotonic() - last < self.ttl_s - self.heartbeat_s

    async def claim(self, strategy_id: str) -> bool:
        """Take the lease of a strategy just started or resumed here, whatever the fair share
        (a later heartbeat gives back what is over it); False when another replica holds it."""
        sent, first = self._monotonic(), not self.held
        taken = await self.leases.take(self.replica, self.ttl_ms, 1, only=strategy_id)
        if taken and first:
            self._valid_until = sent + self.ttl_s - self.heartbeat_s
        self.held.update(taken)
        return strategy_id in self.held

    async def release(self, strategy_ids: Iterable[str]) -> None:
        given = set(strategy_ids)
        self.held -= given
        for strategy_id in given:
            self._taken_at.pop(strategy_id, None)
        await self.leases.release(self.replica, given)

    async def release_all(self) -> None:
        await self.release(set(self.held))
        await self.leases.absent(self.replica)


class LeaseKeeper:
    """The heartbeat: renew, drop what was lost, take what is free (see the module docstring)."""

    def __init__(
        self, ownership: LeasedOwnership, registry: StrategyRegistry, relay: CommandRelay
    ) -> None:
        self.ownership = ownership
        self.relay = relay
        """Cycles on demand asked here of strategies another replica runs go to it."""
        self._registry = registry
        self._slots: SlotRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._following: set[asyncio.Task[None]] = set()
        self._settling: asyncio.Task[None] | None = None
        """The latest ``_settle``: the next one waits for it."""
        self._settles: set[asyncio.Task[None]] = set()
        self._unlisten: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def for_store(
        cls, store: Store, registry: StrategyRegistry, *, ttl_s: float, command_wait_s: float
    ) -> LeaseKeeper | SoleOwner:
        """The keeper of a shared store (PostgreSQL); ``SoleOwner`` for one a single process
        owns (a SQLite file)."""
        if not store.shared:
            return SoleOwner()
        from tradeloop.store.postgres.commands import PgCommands  # asyncpg: only on PostgreSQL
        from tradeloop.store.postgres.db import PgDatabase
        from tradeloop.store.postgres.leases import PgLeases

        if not isinstance(store.rows, PgDatabase):
            raise TypeError(f"{store.label}: a shared store must be PostgreSQL")
        ownership = LeasedOwnership(PgLeases(store.rows), ttl_s=ttl_s)
        relay = CommandRelay(
            PgCommands(store.rows),
            ownership.replica,
            wait_s=command_wait_s,
            sweep_s=ownership.heartbeat_s,
        )
        return cls(ownership, registry, relay)

    def bind(self, slots: SlotRunner) -> None:
        self._slots = slots

    def handle(self, kind: str, handler: Handler) -> None:
        """Run ``kind`` commands sent here by other replicas with ``handler``."""
        self.relay.handle(kind, handler)

    async def before_command(self, strategy_id: str) -> None:
        """A cycle on demand (run_cycle_now, close_position, stop closing positions) runs here
        only when no other replica runs the strategy (its ledger lives there; raises
        ``OwnedElsewhere``, and the caller relays it, see ``relay``); a copy loaded here earlier
        is rebuilt from the store first, as another replica may have run cycles since."""
        if strategy_id in self.ownership.held:
            return
        owner = await self.ownership.leases.owner_of(strategy_id)
        if owner is not None and owner != self.ownership.replica:
            raise OwnedElsewhere(strategy_id, owner)
        await self._registry.unload(strategy_id)

    async def owner_of(self, strategy_id: str) -> str | None:
        """The other replica running ``strategy_id``, if one does."""
        if strategy_id in self.ownership.held:
            return None
        owner = await self.ownership.leases.owner_of(strategy_id)
        return None if owner == self.ownership.replica else owner

    async def let_go(self, strategy_id: str, owner: str) -> None:
        """Wait (at most the command wait) until ``owner`` gave the strategy up (after a pause or
        stop given here: it finishes its cycle in flight first, then releases the lease), so
        the answer includes that cycle and nothing runs the strategy any more."""
        deadline = time.monotonic() + self.relay.wait_s
        while await self.ownership.leases.owner_of(strategy_id) == owner:
            if time.monotonic() > deadline:
                logger.warning(
                    "replica %s still holds %s; it lets go at its next heartbeat",
                    owner,
                    strategy_id,
                )
                return
            await asyncio.sleep(0.05)

    async def ask(self, elsewhere: OwnedElsewhere, kind: str, args: dict[str, Any]) -> str:
        """Have the replica running the strategy run ``kind`` (see ``relay``); its answer."""
        return await self.relay.ask(elsewhere.owner, elsewhere.strategy_id, kind, args)

    async def leases_of(self, strategy_ids: Iterable[str]) -> dict[str, Lease]:
        return await self.ownership.leases.of(strategy_ids)

    def _heard(self, strategy_id: str) -> None:
        """A strategy changed on some replica: if it runs here, follow at once (see ``follow``).
        Held counts too: a strategy being reloaded for an earlier change is briefly not loaded,
        and a second change heard then must not be lost."""
        if strategy_id in self._registry.loaded or strategy_id in self.ownership.held:
            self._following.add(asyncio.create_task(self.follow(strategy_id)))
            for task in [t for t in self._following if t.done()]:
                self._following.discard(task)

    async def follow(self, strategy_id: str) -> None:
        """Reload a strategy loaded here from the store: dropped when it no longer runs (a pause
        or stop given to another replica), rebuilt with its new config when it still does."""
        async with self._registry.lock(strategy_id):
            row = await self._registry.strategies.get(strategy_id)
            loaded = self._registry.loaded.get(strategy_id)
            if loaded is None or (row is not None and row == loaded.row):
                return  # unloaded meanwhile, or the change was made here
            if row is None or row.status is not StrategyStatus.RUNNING:
                await self._registry.unload(strategy_id)
                if strategy_id in self.ownership.held:
                    await self.ownership.release([strategy_id])
            elif self._slots is not None and strategy_id in self.ownership.held:
                await self._slots.reload(row)

    async def beat(self) -> None:
        """Renew, then take up to the fair share: two short queries, never waiting on a cycle
        or a load. What follows from them (dropping the strategies lost, handing back those over
        the share once their cycle in flight ended, resuming those taken) is ``_settle``'s, in a
        task of its own: were the heartbeat to wait for it, the leases it keeps would run out
        meanwhile (resuming dozens of strategies takes longer than a lease on a busy machine),
        and a live replica would lose them to another while still cycling."""
        try:
            lost = await self.ownership.renew()
        except Exception as exc:  # the database unreachable: cycling stops before expiry
            logger.warning("lease renewal failed (%s: %s)", type(exc).__name__, exc)
            return
        taken: list[str] = []
        over: list[str] = []
        try:
            taken, over = await self.ownership.acquire()
        except Exception as exc:
            logger.warning("taking leases failed (%s: %s)", type(exc).__name__, exc)
        if lost or taken or over:
            task = asyncio.create_task(self._settle(self._settling, lost, over, taken))
            self._settles.add(task)
            task.add_done_callback(self._settles.discard)
            self._settling = task

    async def _settle(
        self,
        before: asyncio.Task[None] | None,
        lost: set[str],
        over: list[str],
        taken: list[str],
    ) -> None:
        """Act on one heartbeat's outcome, after the previous one's (in heartbeat order)."""
        if before is not None:
            await asyncio.wait({before})
        try:
            for strategy_id in sorted(lost):
                logger.info("lease lost strategy_id=%s", strategy_id)
                async with self._registry.lock(strategy_id):
                    await self._registry.unload(strategy_id)
            for strategy_id in over:  # more than the fair share: another replica takes these
                async with self._registry.lock(strategy_id):
                    if strategy_id in self.ownership.held:
                        await self._registry.unload(strategy_id)
                        await self.ownership.release([strategy_id])
            if taken and self._slots is not None:
                logger.info("leases taken: %s", ", ".join(taken))
                for strategy_id in taken:
                    row = await self._registry.strategies.get(strategy_id)
                    if row is not None and strategy_id in self.ownership.held:
                        await self._slots.resume([row])
        except Exception:  # one heartbeat's follow-up failing must not stop the next ones
            logger.exception("acting on the leases lost, over the share or taken failed")

    @property
    def renewing(self) -> bool:
        return self.ownership.renewing

    async def start(self) -> None:
        """Take this replica's share, then keep it: listen for changes, beat every heartbeat."""
        await self.ownership.acquire()
        self._unlisten = await self.ownership.leases.listen(self._heard)
        await self.relay.start()
        self._task = asyncio.create_task(self._run(), name="tradeloop-leases")

    async def stop(self) -> None:
        await self.relay.stop()
        if self._unlisten is not None:
            try:
                await self._unlisten()
            except Exception as exc:
                logger.warning("could not stop listening (%s)", exc)
            self._unlisten = None
        for task in (self._task, *self._settles):
            if task is not None:
                task.cancel()
                await asyncio.wait({task})
        self._task = self._settling = None
        try:
            await self.ownership.release_all()
        except Exception as exc:
            logger.warning("could not release leases (%s); they expire", exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.ownership.heartbeat_s)
            await self.beat()


class SoleOwner:
    """``LeaseKeeper``'s stand-in on a store one process owns: every strategy is its own."""

    ownership = SlotOwnership()
    renewing = True

    def bind(self, slots: SlotRunner) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def handle(self, kind: str, handler: Handler) -> None:
        pass

    async def before_command(self, strategy_id: str) -> None:
        pass

    async def owner_of(self, strategy_id: str) -> str | None:
        return None

    async def let_go(self, strategy_id: str, owner: str) -> None:
        pass

    async def ask(self, owner: OwnedElsewhere, kind: str, args: dict[str, Any]) -> str:
        raise owner  # no other replica: never reached

    async def leases_of(self, strategy_ids: Iterable[str]) -> dict[str, Lease]:
        return {}
