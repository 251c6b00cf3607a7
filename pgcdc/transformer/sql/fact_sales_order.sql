-- target: fact_sales_order
-- kind: fact
-- grain: one row per version of a sales order (one per change: sales_order_id, source_lsn, source_seq)
-- key: sales_record_id (a hash of sales_order_id, source_lsn, source_seq: a replay gives the same id)
-- entity: sales_order_id
-- sources: public.sales_order
-- incremental: source_lsn (each run sees only the versions after the transformer's position)
-- required: sales_order_id, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_location_id
-- text_dates: agreed_delivery_date, agreed_payment_date
SELECT (hash(sales_order_id, _lsn, _seq) >> 1)::BIGINT AS sales_record_id,
       sales_order_id,
       created_at::DATE AS created_date,
       created_at::TIME AS created_time,
       last_updated::DATE AS last_updated_date,
       last_updated::TIME AS last_updated_time,
       staff_id AS sales_staff_id,
       counterparty_id,
       units_sold,
       unit_price::DECIMAL(10, 2) AS unit_price,
       currency_id,
       design_id,
       TRY_CAST(agreed_payment_date AS DATE) AS agreed_payment_date,
       TRY_CAST(agreed_delivery_date AS DATE) AS agreed_delivery_date,
       agreed_delivery_location_id,
       _lsn AS source_lsn,
       _seq AS source_seq,
       _commit_ts AS source_commit_ts,
       _deleted AS deleted
FROM sales_order
