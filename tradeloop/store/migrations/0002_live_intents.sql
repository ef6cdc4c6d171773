-- Live order intents (tradeloop/store/intents.py): written and committed BEFORE an order is sent,
-- acknowledged and settled after. A PENDING or ACKED row is an order whose outcome is not known
-- yet; it is resolved by looking the order up by client_order_id, never by sending it again.
-- No foreign key to strategies: these rows describe real orders and outlive a deleted strategy.
-- Quantities and prices are exact decimals stored as text.

CREATE TABLE live_intents (
    client_order_id TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL,
    account TEXT NOT NULL,
    compose_id TEXT NOT NULL,
    instruction_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    market_symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type TEXT NOT NULL CHECK (order_type IN ('market', 'limit')),
    amount TEXT NOT NULL,
    base_quantity TEXT NOT NULL,
    reference_price TEXT NOT NULL,
    limit_price TEXT,
    reduce_only INTEGER NOT NULL CHECK (reduce_only IN (0, 1)),
    leverage REAL,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'acked', 'filled', 'partial', 'rejected', 'not_found')),
    exchange_order_id TEXT,
    filled_base TEXT NOT NULL DEFAULT '0',
    avg_price TEXT,
    fee_quote TEXT NOT NULL DEFAULT '0',
    reason TEXT,
    applied INTEGER NOT NULL DEFAULT 0 CHECK (applied IN (0, 1)),
    created_ts INTEGER NOT NULL,
    updated_ts INTEGER NOT NULL
);
CREATE INDEX live_intents_by_strategy ON live_intents (strategy_id, created_ts);
CREATE INDEX live_intents_unresolved ON live_intents (strategy_id)
    WHERE status IN ('pending', 'acked');
