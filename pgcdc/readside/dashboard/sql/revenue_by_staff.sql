-- panel: revenue by staff member and department (bar chart)
-- grain: one row per (department, staff member, currency)
-- sources: fact_sales_order_current, dim_staff, dim_currency
SELECT coalesce(s.department_name, '?') AS department,
       coalesce(s.first_name || ' ' || s.last_name, '?') AS staff,
       coalesce(c.currency_code, '?') AS currency,
       sum(f.units_sold * f.unit_price) AS revenue
FROM fact_sales_order_current AS f
LEFT JOIN dim_staff AS s ON s.staff_id = f.sales_staff_id
LEFT JOIN dim_currency AS c ON c.currency_id = f.currency_id
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2
