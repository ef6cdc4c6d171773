-- Commands relayed between replicas (see ../postgres/migrations/0010_commands.sql). A SQLite file
-- has one process, which runs every command itself, so it writes no rows here; the table keeps
-- both backends' schemas and migration numbers the same.

CREATE TABLE commands (
    id TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    principal TEXT,
    sender TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'running', 'done', 'failed', 'abandoned')),
    answer TEXT,
    sent_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
