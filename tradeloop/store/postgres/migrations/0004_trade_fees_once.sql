-- PostgreSQL twin of ../../migrations/0004_trade_fees_once.sql, which rewrote the fee_cost of
-- closes stored before it. No PostgreSQL database holds such rows (the backend arrived after the
-- fix), so there is nothing to rewrite: the version is recorded to keep both backends' numbering.
SELECT 1;
