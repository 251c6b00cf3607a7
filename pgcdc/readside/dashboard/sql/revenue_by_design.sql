-- panel: revenue by design (bar chart)
-- grain: one row per (design, currency)
-- sources: fact_sales_order_current, dim_design, dim_currency
SELECT coalesce(g.design_name, '?') AS design, coalesce(c.currency_code, '?') AS currency,
       sum(f.units_sold * f.unit_price) AS revenue
FROM fact_sales_order_current AS f
LEFT JOIN dim_design AS g ON g.design_id = f.design_id
LEFT JOIN dim_currency AS c ON c.currency_id = f.currency_id
GROUP BY 1, 2
ORDER BY 3 DESC, 1
