-- Replicas (see ../postgres/migrations/0007_replicas.sql): the processes sharing a PostgreSQL
-- database. A SQLite file has one process, so it writes no rows here; the table keeps both
-- backends' schemas and migration numbers the same.

CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    seen_until INTEGER NOT NULL
);
