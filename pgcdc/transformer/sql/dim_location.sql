-- target: dim_location
-- kind: dimension
-- grain: one row per address, latest values (type 1)
-- key: location_id
-- sources: public.address
-- incremental: recomputed when address changes; only rows that differ are emitted
SELECT address_id AS location_id, address_line_1, address_line_2, district, city,
       postal_code, country, phone
FROM address
