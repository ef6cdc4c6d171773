-- PostgreSQL twin of ../../migrations/0011_strategy_owners.sql: every strategy belongs to a
-- principal; existing rows to the implicit owner '~owner'; names are unique per owner.

ALTER TABLE strategies ADD COLUMN owner TEXT NOT NULL DEFAULT '~owner';
ALTER TABLE strategies DROP CONSTRAINT strategies_name_key;
ALTER TABLE strategies ADD CONSTRAINT strategies_owner_name_key UNIQUE (owner, name);
CREATE INDEX strategies_by_owner ON strategies (owner, created_at, id);
