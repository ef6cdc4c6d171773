-- A close's fee_cost used to be its round trip's fees: its exit fee plus the entry fees of what it
-- closed, which the opening entries carry as their own fee_cost too, so summing fee_cost over
-- list_trades counted every entry fee twice. Now a close's fee_cost is its own fill's fee and
-- round_trip_fees holds the round trip's. Closes stored before are rewritten alike: the exit fee
-- is the closing fill's fee pro rata to the quantity closed (a fill that closed and opened paid
-- for both), and the old fee_cost becomes round_trip_fees.
UPDATE trades
SET fee_cost = exits.fee,
    body_json = json_set(
        trades.body_json, '$.fee_cost', exits.fee, '$.round_trip_fees', trades.fee_cost
    )
FROM (
    SELECT t.id AS trade_row, COALESCE(x.fee_cost, 0.0) * t.quantity / x.filled_qty AS fee
    FROM trades AS t
    JOIN tx_results AS x
        ON x.cycle_id = t.cycle_id
        AND x.instruction_id = json_extract(t.body_json, '$.instruction_id')
    WHERE t.exit_price IS NOT NULL
        AND json_type(t.body_json, '$.round_trip_fees') IS NULL
        AND x.filled_qty > 0
) AS exits
WHERE trades.id = exits.trade_row;
