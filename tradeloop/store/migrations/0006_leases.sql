-- Leases (see ../postgres/migrations/0006_leases.sql): which replica runs which strategy when
-- several processes share one PostgreSQL database. A SQLite file has one process at a time (its
-- ProcessLock), which runs every strategy, so it writes no rows here; the table keeps both
-- backends' schemas and migration numbers the same (and `tradeloop db copy` copies it).

CREATE TABLE leases (
    strategy_id TEXT PRIMARY KEY REFERENCES strategies (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    taken_at INTEGER NOT NULL
);
CREATE INDEX leases_by_owner ON leases (owner);
