-- panel: key figures (metrics at the top of the page)
-- grain: one row per currency
-- sources: fact_sales_order_current (latest non-deleted version per order: an updated order
--          counts once), dim_currency
-- revenue: units_sold × unit_price, never summed across currencies
SELECT coalesce(c.currency_code, '?') AS currency,
       count(*) AS orders,
       sum(f.units_sold) AS units,
       sum(f.units_sold * f.unit_price) AS revenue
FROM fact_sales_order_current AS f
LEFT JOIN dim_currency AS c ON c.currency_id = f.currency_id
GROUP BY 1
ORDER BY 1
