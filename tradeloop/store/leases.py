"""A lease row as any backend reads it (``store.postgres.leases`` writes them; a SQLite file,
run by one process, has none)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    strategy_id: str
    owner: str
    """The replica running the strategy."""
    expires_at: int
    """Database clock, ms: past it, another replica takes the strategy over."""
