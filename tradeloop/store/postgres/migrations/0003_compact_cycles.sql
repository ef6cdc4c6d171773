-- PostgreSQL twin of ../../migrations/0003_compact_cycles.sql: content-addressed payloads, and
-- the cycle's features, raw output and portfolio view packed (bytes; see store/payloads.py).
-- No PostgreSQL database holds rows from before this version (the backend arrived after it).

CREATE TABLE payloads (
    strategy_id TEXT NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    hash BYTEA NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (strategy_id, hash)
);

ALTER TABLE cycles RENAME COLUMN features_json TO features;
ALTER TABLE cycles ALTER COLUMN features TYPE BYTEA USING convert_to(features, 'UTF8');
ALTER TABLE cycles RENAME COLUMN raw_json TO raw;
ALTER TABLE cycles ALTER COLUMN raw TYPE BYTEA USING convert_to(raw, 'UTF8');
ALTER TABLE cycles RENAME COLUMN portfolio_json TO portfolio;
ALTER TABLE cycles ALTER COLUMN portfolio TYPE BYTEA USING convert_to(portfolio, 'UTF8');
