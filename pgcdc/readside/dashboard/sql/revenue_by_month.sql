-- panel: revenue by month and currency (line chart)
-- grain: one row per (year, month of the order's creation, currency)
-- sources: fact_sales_order_current, dim_date, dim_currency
SELECT d.year, d.month, coalesce(c.currency_code, '?') AS currency,
       sum(f.units_sold * f.unit_price) AS revenue
FROM fact_sales_order_current AS f
JOIN dim_date AS d ON d.date_id = f.created_date
LEFT JOIN dim_currency AS c ON c.currency_id = f.currency_id
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
