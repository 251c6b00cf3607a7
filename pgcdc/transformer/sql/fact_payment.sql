-- target: fact_payment
-- kind: fact
-- grain: one row per version of a payment (one per change: payment_id, source_lsn, source_seq)
-- key: payment_record_id (a hash of payment_id, source_lsn, source_seq)
-- entity: payment_id
-- sources: public.payment
-- incremental: source_lsn
-- required: payment_id, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid
-- text_dates: payment_date
SELECT (hash(payment_id, _lsn, _seq) >> 1)::BIGINT AS payment_record_id,
       payment_id,
       created_at::DATE AS created_date,
       created_at::TIME AS created_time,
       last_updated::DATE AS last_updated_date,
       last_updated::TIME AS last_updated_time,
       transaction_id,
       counterparty_id,
       payment_amount::DECIMAL(10, 2) AS payment_amount,
       currency_id,
       payment_type_id,
       paid,
       TRY_CAST(payment_date AS DATE) AS payment_date,
       _lsn AS source_lsn,
       _seq AS source_seq,
       _commit_ts AS source_commit_ts,
       _deleted AS deleted
FROM payment
