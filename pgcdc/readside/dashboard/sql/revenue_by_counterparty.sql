-- panel: top counterparties (bar chart; the page keeps the first ten of a currency)
-- grain: one row per (counterparty, currency)
-- sources: fact_sales_order_current, dim_counterparty, dim_currency
SELECT coalesce(p.counterparty_legal_name, '?') AS counterparty,
       coalesce(c.currency_code, '?') AS currency,
       sum(f.units_sold * f.unit_price) AS revenue
FROM fact_sales_order_current AS f
LEFT JOIN dim_counterparty AS p ON p.counterparty_id = f.counterparty_id
LEFT JOIN dim_currency AS c ON c.currency_id = f.currency_id
GROUP BY 1, 2
ORDER BY 3 DESC, 1
