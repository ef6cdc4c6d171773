-- A plan's stop-loss / take-profit adjustments of open positions, per cycle: packed JSON
-- {"proposed": [...], "applied": [...]} (tradeloop/store/payloads.py), NULL when there were none.

ALTER TABLE cycles ADD COLUMN adjustments BLOB;
