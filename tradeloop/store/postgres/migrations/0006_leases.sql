-- Leases: which replica runs which strategy when several processes share one PostgreSQL database.
-- A replica takes the rows of running strategies that nobody holds (or whose lease expired) with
-- SELECT ... FOR UPDATE SKIP LOCKED, renews its own on a heartbeat, and stops cycling a strategy
-- whose lease it could not renew before the lease expires. Times are the database's clock (ms),
-- so replicas' clocks never have to agree.

CREATE TABLE leases (
    strategy_id TEXT PRIMARY KEY REFERENCES strategies (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,                 -- the replica id
    expires_at BIGINT NOT NULL,
    taken_at BIGINT NOT NULL             -- when this owner took it (kept across renewals)
);
CREATE INDEX leases_by_owner ON leases (owner);
