-- Cycles stored compactly (tradeloop/store/payloads.py): a cycle's feature vectors become
-- references to content-addressed payloads of its strategy (a vector several cycles saw, or an LLM
-- system prompt, is stored once), and the prompt and reply and the portfolio view are deflated.
-- Rows written before this migration keep their JSON text in the renamed columns and read as before.

CREATE TABLE payloads (
    strategy_id TEXT NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    hash BLOB NOT NULL,                  -- BLAKE2b-128 of the payload's JSON
    body BLOB NOT NULL,                  -- the JSON, packed (format byte + deflate)
    PRIMARY KEY (strategy_id, hash)
) WITHOUT ROWID;

ALTER TABLE cycles RENAME COLUMN features_json TO features;   -- payload hashes (or old JSON text)
ALTER TABLE cycles RENAME COLUMN raw_json TO raw;             -- packed JSON (or old JSON text)
ALTER TABLE cycles RENAME COLUMN portfolio_json TO portfolio; -- packed JSON (or old JSON text)
