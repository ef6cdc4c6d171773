-- PostgreSQL twin of ../../migrations/0009_principal_limits.sql: per-principal limits the operator
-- sets, NULL meaning unlimited, '*' the default row for principals without their own.

CREATE TABLE principal_limits (
    principal TEXT PRIMARY KEY,
    max_strategies INTEGER CHECK (max_strategies >= 0),
    max_live_capital TEXT,               -- exact decimal as text, like every money column
    allowed_venues TEXT,                 -- JSON list of exchange ids; NULL: every venue
    updated_at BIGINT NOT NULL
);
