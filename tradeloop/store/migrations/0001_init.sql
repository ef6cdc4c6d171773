-- Strategies, their cycles (one row per slot) and what each cycle did.
-- Money columns are informational (REAL); the exact ledger is ledger_json with Decimal strings.

CREATE TABLE strategies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    agent_kind TEXT NOT NULL,
    request_json TEXT NOT NULL,          -- UserRequest without secrets (they are exclude=True)
    replay_json TEXT,                    -- NULL: live market data
    status TEXT NOT NULL CHECK (status IN ('created', 'running', 'paused', 'stopped', 'error')),
    reason TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_slot_ts INTEGER,                -- latest slot that has a cycle row
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    compose_id TEXT NOT NULL UNIQUE,
    strategy_id TEXT NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    slot_ts INTEGER,                     -- NULL for unscheduled cycles (forced closes)
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('decision', 'failure')),
    status TEXT NOT NULL CHECK (status IN ('ok', 'skipped', 'error')),
    reason TEXT,
    rationale TEXT,
    features_json TEXT NOT NULL,
    raw_json TEXT,                       -- the LLM's prompt and reply, or the rules' signals
    usage_json TEXT,
    summary_json TEXT NOT NULL,
    portfolio_json TEXT,
    ledger_json TEXT NOT NULL,           -- the exact ledger after the cycle
    portfolio_ts INTEGER NOT NULL,
    equity REAL NOT NULL,
    n_proposed INTEGER NOT NULL,
    n_instructions INTEGER NOT NULL,
    n_notes INTEGER NOT NULL,
    n_tx INTEGER NOT NULL,
    n_fills INTEGER NOT NULL,
    n_trades INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (strategy_id, slot_ts)
);
CREATE INDEX cycles_by_strategy ON cycles (strategy_id, id);
CREATE INDEX cycles_by_strategy_ts ON cycles (strategy_id, ts);

CREATE TABLE instructions (
    id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles (id) ON DELETE CASCADE,
    stage TEXT NOT NULL CHECK (stage IN ('proposed', 'guarded')),
    position INTEGER NOT NULL,
    instruction_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    action TEXT,
    quantity REAL NOT NULL,
    body_json TEXT NOT NULL,
    UNIQUE (cycle_id, stage, position)
);
CREATE INDEX instructions_by_symbol ON instructions (symbol, cycle_id);

CREATE TABLE guard_notes (
    id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    instruction_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (cycle_id, position)
);

CREATE TABLE tx_results (
    id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles (id) ON DELETE CASCADE,
    strategy_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    instruction_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_qty REAL NOT NULL,
    filled_qty REAL NOT NULL,
    avg_exec_price REAL,
    fee_cost REAL,
    ts INTEGER,
    body_json TEXT NOT NULL,
    UNIQUE (cycle_id, position)
);
CREATE INDEX tx_by_strategy ON tx_results (strategy_id, id);

CREATE TABLE trades (
    id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles (id) ON DELETE CASCADE,
    strategy_id TEXT NOT NULL,
    trade_id TEXT NOT NULL UNIQUE,
    compose_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    type TEXT NOT NULL,
    quantity REAL NOT NULL,
    entry_price REAL,
    exit_price REAL,
    entry_ts INTEGER,
    exit_ts INTEGER,
    realized_pnl REAL,
    fee_cost REAL NOT NULL,
    body_json TEXT NOT NULL
);
CREATE INDEX trades_by_strategy ON trades (strategy_id, id);
CREATE INDEX trades_by_symbol ON trades (strategy_id, symbol, id);
CREATE INDEX trades_by_exit ON trades (strategy_id, exit_ts);
CREATE INDEX trades_by_entry ON trades (strategy_id, entry_ts);
