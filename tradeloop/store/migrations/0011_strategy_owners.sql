-- Every strategy belongs to a principal (tradeloop/services/principals.py): the one that created
-- it sees and changes it, nobody else does. A stored backtest is a strategy row, so it is owned
-- alike; comparisons and sweeps are not stored (a sweep's best run is a stored backtest).
-- Existing rows belong to the implicit owner '~owner' (stdio, loopback HTTP, TRADELOOP_HTTP_TOKEN).
-- Names are unique per owner, not across the server: a name taken by another principal must not
-- answer "already exists". SQLite cannot drop a UNIQUE column constraint, so the table is rebuilt
-- (its children's foreign keys name it and keep pointing at it; the migration runs with foreign
-- keys off and is checked with foreign_key_check before it commits).

CREATE TABLE strategies_owned (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '~owner',
    name TEXT NOT NULL,
    agent_kind TEXT NOT NULL,
    request_json TEXT NOT NULL,          -- UserRequest without secrets (they are exclude=True)
    replay_json TEXT,                    -- NULL: live market data
    status TEXT NOT NULL CHECK (status IN ('created', 'running', 'paused', 'stopped', 'error')),
    reason TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_slot_ts INTEGER,                -- latest slot that has a cycle row
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (owner, name)
);
INSERT INTO strategies_owned (
    id, owner, name, agent_kind, request_json, replay_json, status, reason,
    consecutive_failures, last_slot_ts, created_at, updated_at
)
SELECT id, '~owner', name, agent_kind, request_json, replay_json, status, reason,
    consecutive_failures, last_slot_ts, created_at, updated_at
FROM strategies;
DROP TABLE strategies;
ALTER TABLE strategies_owned RENAME TO strategies;
CREATE INDEX strategies_by_owner ON strategies (owner, created_at, id);
