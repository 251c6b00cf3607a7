-- panel: payments outstanding (metrics and table)
-- grain: one row per currency
-- sources: fact_payment_current (latest non-deleted version: a payment marked paid since
--          is no longer outstanding), dim_currency
SELECT coalesce(c.currency_code, '?') AS currency, count(*) AS payments,
       sum(f.payment_amount) AS amount
FROM fact_payment_current AS f
LEFT JOIN dim_currency AS c ON c.currency_id = f.currency_id
WHERE NOT f.paid
GROUP BY 1
ORDER BY 1
