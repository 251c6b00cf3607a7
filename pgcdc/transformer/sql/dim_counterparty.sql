-- target: dim_counterparty
-- kind: dimension
-- grain: one row per counterparty, latest values (type 1)
-- key: counterparty_id
-- sources: public.counterparty, public.address
-- incremental: recomputed when counterparty or address changes; only rows that differ are emitted
SELECT c.counterparty_id, c.counterparty_legal_name,
       a.address_line_1 AS counterparty_legal_address_line_1,
       a.address_line_2 AS counterparty_legal_address_line_2,
       a.district AS counterparty_legal_district,
       a.city AS counterparty_legal_city,
       a.postal_code AS counterparty_legal_postal_code,
       a.country AS counterparty_legal_country,
       a.phone AS counterparty_legal_phone_number
FROM counterparty AS c
LEFT JOIN address AS a ON a.address_id = c.legal_address_id
