-- Per-principal limits the operator sets (`tradeloop limits set`), read by every replica on a shared
-- database when a principal creates, starts or resumes a strategy (tradeloop/services/limits.py).
-- NULL in a column means unlimited. The row of principal '*' is the default for principals without
-- a row of their own (never for the implicit owner '~owner'); no row at all: no limits.

CREATE TABLE principal_limits (
    principal TEXT PRIMARY KEY,
    max_strategies INTEGER CHECK (max_strategies >= 0),
    max_live_capital TEXT,               -- exact decimal as text, like every money column
    allowed_venues TEXT,                 -- JSON list of exchange ids; NULL: every venue
    updated_at INTEGER NOT NULL
);
