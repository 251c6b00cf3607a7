-- target: dim_payment_type
-- kind: dimension
-- grain: one row per payment type, latest values (type 1)
-- key: payment_type_id
-- sources: public.payment_type
-- incremental: recomputed when payment_type changes; only rows that differ are emitted
SELECT payment_type_id, payment_type_name
FROM payment_type
