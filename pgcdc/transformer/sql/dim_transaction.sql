-- target: dim_transaction
-- kind: dimension
-- grain: one row per transaction, latest values (type 1)
-- key: transaction_id
-- sources: public.transaction
-- incremental: recomputed when transaction changes; only rows that differ are emitted
SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id
FROM "transaction"
