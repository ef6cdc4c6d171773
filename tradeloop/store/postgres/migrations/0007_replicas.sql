-- Replicas alive on this database (each renews its row with its leases): what a fair share of the
-- running strategies is counted over, so that a replica that holds nothing yet gets its share.

CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    seen_until BIGINT NOT NULL           -- database clock, ms
);
