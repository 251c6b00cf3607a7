-- audit: current payments whose keys resolve in the dimensions, with sane values
-- scope: the entities of the batch just loaded (their current version)
-- requires: fact_payment, dim_transaction, dim_payment_type, dim_currency, dim_counterparty, dim_date
SELECT 'fact_payment' AS target, f.payment_id AS id,
       CASE WHEN tr.transaction_id IS NULL THEN 'transaction_id not in dim_transaction'
            WHEN pt.payment_type_id IS NULL THEN 'payment_type_id not in dim_payment_type'
            WHEN cu.currency_id IS NULL THEN 'currency_id not in dim_currency'
            WHEN cp.counterparty_id IS NULL THEN 'counterparty_id not in dim_counterparty'
            WHEN pd.date_id IS NULL THEN 'payment_date not in dim_date'
            WHEN f.payment_amount IS NULL OR f.payment_amount < 0 THEN 'payment_amount negative'
       END AS problem
FROM (SELECT * FROM (SELECT v.*, row_number() OVER (PARTITION BY v.payment_id
                                   ORDER BY v.source_lsn DESC, v.source_seq DESC) AS _rn
                      FROM fact_payment AS v WHERE v.payment_id IN (
                          SELECT id FROM pgcdc_audit_scope WHERE target = 'fact_payment')) AS c
      WHERE _rn = 1 AND NOT deleted) AS f
LEFT JOIN dim_transaction AS tr ON tr.transaction_id = f.transaction_id
LEFT JOIN dim_payment_type AS pt ON pt.payment_type_id = f.payment_type_id
LEFT JOIN dim_currency AS cu ON cu.currency_id = f.currency_id
LEFT JOIN dim_counterparty AS cp ON cp.counterparty_id = f.counterparty_id
LEFT JOIN dim_date AS pd ON pd.date_id = f.payment_date
WHERE tr.transaction_id IS NULL OR pt.payment_type_id IS NULL OR cu.currency_id IS NULL
   OR cp.counterparty_id IS NULL OR pd.date_id IS NULL
   OR f.payment_amount IS NULL OR f.payment_amount < 0
