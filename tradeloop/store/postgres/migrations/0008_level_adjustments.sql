-- PostgreSQL twin of ../../migrations/0008_level_adjustments.sql: a plan's stop-loss /
-- take-profit adjustments of open positions, per cycle, packed (bytes); NULL when there were none.

ALTER TABLE cycles ADD COLUMN adjustments BYTEA;
