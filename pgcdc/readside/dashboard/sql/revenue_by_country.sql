-- panel: revenue by delivery country (map and table)
-- grain: one row per (country of the agreed delivery location, currency)
-- sources: fact_sales_order_current, dim_location, dim_currency
SELECT coalesce(l.country, '?') AS country, coalesce(c.currency_code, '?') AS currency,
       count(*) AS orders, sum(f.units_sold * f.unit_price) AS revenue
FROM fact_sales_order_current AS f
LEFT JOIN dim_location AS l ON l.location_id = f.agreed_delivery_location_id
LEFT JOIN dim_currency AS c ON c.currency_id = f.currency_id
GROUP BY 1, 2
ORDER BY 4 DESC, 1
