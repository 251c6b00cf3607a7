-- target: fact_purchase_order
-- kind: fact
-- grain: one row per version of a purchase order (one per change: purchase_order_id, source_lsn, source_seq)
-- key: purchase_record_id (a hash of purchase_order_id, source_lsn, source_seq)
-- entity: purchase_order_id
-- sources: public.purchase_order
-- incremental: source_lsn
-- required: purchase_order_id, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_location_id
-- text_dates: agreed_delivery_date, agreed_payment_date
SELECT (hash(purchase_order_id, _lsn, _seq) >> 1)::BIGINT AS purchase_record_id,
       purchase_order_id,
       created_at::DATE AS created_date,
       created_at::TIME AS created_time,
       last_updated::DATE AS last_updated_date,
       last_updated::TIME AS last_updated_time,
       staff_id,
       counterparty_id,
       item_code,
       item_quantity,
       item_unit_price::DECIMAL(10, 2) AS item_unit_price,
       currency_id,
       TRY_CAST(agreed_delivery_date AS DATE) AS agreed_delivery_date,
       TRY_CAST(agreed_payment_date AS DATE) AS agreed_payment_date,
       agreed_delivery_location_id,
       _lsn AS source_lsn,
       _seq AS source_seq,
       _commit_ts AS source_commit_ts,
       _deleted AS deleted
FROM purchase_order
