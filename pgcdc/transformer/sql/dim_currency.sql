-- target: dim_currency
-- kind: dimension
-- grain: one row per currency, latest values (type 1)
-- key: currency_id
-- sources: public.currency
-- incremental: recomputed when currency changes; only rows that differ are emitted
-- iso_4217 (currency_code, currency_name) is bound by the runner from the pycountry package.
SELECT c.currency_id, c.currency_code, i.currency_name
FROM currency AS c
LEFT JOIN iso_4217 AS i ON i.currency_code = upper(c.currency_code)
