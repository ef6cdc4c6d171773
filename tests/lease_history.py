"""Who held which strategy when, measured in the database: a trigger the test adds to its own
throwaway database logs every lease taken (a new owner or a new ``taken_at``) and released (row
deleted), on the database's clock. Renewals change only ``expires_at`` and are not logged.

``ownership`` turns that log and the kill times of the replica processes into ownership gaps:
a strategy is without an owner from the moment its owner stopped being a live owner (its process
was SIGKILLed, or it released the lease) until another replica took the lease. A lease that
changed hands while its owner was alive and had not released it (an expiry on a live replica,
e.g. one cut from the database) is counted in ``lost_live``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

INSTALL = """
CREATE TABLE lease_history (
    id BIGSERIAL PRIMARY KEY,
    strategy_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    event TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE FUNCTION log_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO lease_history (strategy_id, owner, event, at)
        VALUES (OLD.strategy_id, OLD.owner, 'released',
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    ELSIF TG_OP = 'INSERT' OR NEW.owner <> OLD.owner OR NEW.taken_at <> OLD.taken_at THEN
        INSERT INTO lease_history (strategy_id, owner, event, at)
        VALUES (NEW.strategy_id, NEW.owner, 'taken', NEW.taken_at);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER leases_logged AFTER INSERT OR UPDATE OR DELETE ON leases
    FOR EACH ROW EXECUTE FUNCTION log_lease();
"""


@dataclass(frozen=True)
class LeaseEvent:
    strategy_id: str
    owner: str
    event: str
    """``taken`` or ``released``."""
    at_ms: int


async def install(conn: asyncpg.Connection) -> None:
    """Start logging lease changes (the ``leases`` table must exist: the store migrated)."""
    await conn.execute(INSTALL)


async def events(conn: asyncpg.Connection) -> list[LeaseEvent]:
    rows = await conn.fetch(
        "SELECT strategy_id, owner, event, at FROM lease_history ORDER BY at, id"
    )
    return [LeaseEvent(r["strategy_id"], r["owner"], r["event"], int(r["at"])) for r in rows]


@dataclass(frozen=True)
class Gap:
    """A strategy without a live owner from ``start_ms`` to ``end_ms`` (wall / database clock)."""

    strategy_id: str
    start_ms: int
    end_ms: int
    cause: str
    """``killed`` (its owner was SIGKILLed) or ``released`` (handed back, e.g. a rebalance)."""

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


@dataclass
class Ownership:
    gaps: list[Gap] = field(default_factory=list)
    lost_live: list[LeaseEvent] = field(default_factory=list)
    """Takes from a live owner that had not released (its lease expired while it ran)."""
    open_gaps: list[Gap] = field(default_factory=list)
    """Strategies whose last owner died or released and nobody took them (until ``until_ms``)."""

    def takeovers(self) -> list[float]:
        """Seconds from a SIGKILL to the lease taken by another replica, per strategy held."""
        return [gap.seconds for gap in self.gaps if gap.cause == "killed"]


def ownership(
    log: Sequence[LeaseEvent], killed_at: Callable[[str], int | None], until_ms: int
) -> Ownership:
    """Gaps in ownership per strategy; ``killed_at(owner)`` is when that owner's process was
    SIGKILLed (ms), None while it lived on."""
    found = Ownership()
    by_strategy: dict[str, list[LeaseEvent]] = {}
    for event in log:
        by_strategy.setdefault(event.strategy_id, []).append(event)
    for sid, history in by_strategy.items():
        holder: LeaseEvent | None = None
        ended: Gap | None = None  # the open gap since the holder stopped being a live owner
        for event in history:
            if ended is None and holder is not None:
                ended = _end_of(holder, killed_at, before_ms=event.at_ms)
            if event.event == "released":
                if holder is not None and event.owner == holder.owner:
                    if ended is None or ended.cause != "killed":
                        ended = Gap(sid, event.at_ms, event.at_ms, "released")
                    holder = None
                continue
            if holder is not None and ended is None:
                found.lost_live.append(event)
            elif ended is not None:
                found.gaps.append(Gap(sid, ended.start_ms, event.at_ms, ended.cause))
            holder, ended = event, None
        if ended is None and holder is not None:
            ended = _end_of(holder, killed_at, before_ms=until_ms)
        if ended is not None:
            found.open_gaps.append(Gap(sid, ended.start_ms, until_ms, ended.cause))
    return found


def _end_of(
    holder: LeaseEvent, killed_at: Callable[[str], int | None], *, before_ms: int
) -> Gap | None:
    """The holder's ownership ended by its kill before ``before_ms``, else None."""
    kill = killed_at(holder.owner)
    if kill is not None and holder.at_ms <= kill < before_ms:
        return Gap(holder.strategy_id, kill, kill, "killed")
    return None
