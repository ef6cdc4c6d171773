-- PostgreSQL twin of ../../migrations/0005_packed_ledger_and_summary.sql: the ledger and summary
-- after each cycle are packed like the other cycle payloads (bytes).

ALTER TABLE cycles RENAME COLUMN ledger_json TO ledger;
ALTER TABLE cycles ALTER COLUMN ledger TYPE BYTEA USING convert_to(ledger, 'UTF8');
ALTER TABLE cycles RENAME COLUMN summary_json TO summary;
ALTER TABLE cycles ALTER COLUMN summary TYPE BYTEA USING convert_to(summary, 'UTF8');
