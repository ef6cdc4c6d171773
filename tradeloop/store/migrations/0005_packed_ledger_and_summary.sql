-- The ledger and summary after each cycle are packed like the other cycle payloads
-- (tradeloop/store/payloads.py: format byte + deflate); rows written before keep their JSON text.

ALTER TABLE cycles RENAME COLUMN ledger_json TO ledger;     -- packed ledger (or old JSON text)
ALTER TABLE cycles RENAME COLUMN summary_json TO summary;   -- packed summary (or old JSON text)
