-- Commands relayed between replicas: a cycle on demand (run_cycle_now, close_position, stop with
-- close_positions) asked of a replica that does not run the strategy is written here for the one
-- that does (its lease owner, `target`), announced by NOTIFY, run there exactly once (the target
-- claims it by moving `state` from 'sent' to 'running' in one UPDATE) and answered in `answer`
-- (JSON: the result, or the error). None is claimed after its deadline, and a caller that gives
-- up waiting moves a command still 'sent' to 'abandoned', so that it never runs late. Rows are
-- messages, not history: they are pruned an hour after their deadline, and `tradeloop db copy`
-- leaves them out.

CREATE TABLE commands (
    id TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                  -- run_cycle_now | close_position | stop
    args TEXT NOT NULL,                  -- JSON object
    principal TEXT,                      -- who asked (issue 15), NULL: the implicit owner
    sender TEXT NOT NULL,                -- the replica waiting for the answer
    target TEXT NOT NULL,                -- the replica asked to run it
    state TEXT NOT NULL CHECK (state IN ('sent', 'running', 'done', 'failed', 'abandoned')),
    answer TEXT,                         -- JSON, once done or failed
    sent_at BIGINT NOT NULL,             -- database clock, ms
    deadline_at BIGINT NOT NULL,         -- claimed only before it: never run after the caller gave up
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX commands_waiting ON commands (target) WHERE state = 'sent';
