-- audit: current sales orders whose keys resolve in the dimensions, with sane values
-- scope: the entities of the batch just loaded (their current version)
-- requires: fact_sales_order, dim_staff, dim_counterparty, dim_currency, dim_design, dim_location, dim_date
SELECT 'fact_sales_order' AS target, f.sales_order_id AS id,
       CASE WHEN st.staff_id IS NULL THEN 'sales_staff_id not in dim_staff'
            WHEN cp.counterparty_id IS NULL THEN 'counterparty_id not in dim_counterparty'
            WHEN cu.currency_id IS NULL THEN 'currency_id not in dim_currency'
            WHEN de.design_id IS NULL THEN 'design_id not in dim_design'
            WHEN lo.location_id IS NULL THEN 'agreed_delivery_location_id not in dim_location'
            WHEN dd.date_id IS NULL OR pd.date_id IS NULL THEN 'agreed date not in dim_date'
            WHEN f.units_sold IS NULL OR f.units_sold <= 0 THEN 'units_sold not positive'
            WHEN f.unit_price IS NULL OR f.unit_price < 0 THEN 'unit_price negative or null'
       END AS problem
FROM (SELECT * FROM (SELECT v.*, row_number() OVER (PARTITION BY v.sales_order_id
                                   ORDER BY v.source_lsn DESC, v.source_seq DESC) AS _rn
                      FROM fact_sales_order AS v WHERE v.sales_order_id IN (
                          SELECT id FROM pgcdc_audit_scope WHERE target = 'fact_sales_order')) AS c
      WHERE _rn = 1 AND NOT deleted) AS f
LEFT JOIN dim_staff AS st ON st.staff_id = f.sales_staff_id
LEFT JOIN dim_counterparty AS cp ON cp.counterparty_id = f.counterparty_id
LEFT JOIN dim_currency AS cu ON cu.currency_id = f.currency_id
LEFT JOIN dim_design AS de ON de.design_id = f.design_id
LEFT JOIN dim_location AS lo ON lo.location_id = f.agreed_delivery_location_id
LEFT JOIN dim_date AS dd ON dd.date_id = f.agreed_delivery_date
LEFT JOIN dim_date AS pd ON pd.date_id = f.agreed_payment_date
WHERE st.staff_id IS NULL OR cp.counterparty_id IS NULL OR cu.currency_id IS NULL
   OR de.design_id IS NULL OR lo.location_id IS NULL OR dd.date_id IS NULL
   OR pd.date_id IS NULL OR f.units_sold IS NULL OR f.units_sold <= 0
   OR f.unit_price IS NULL OR f.unit_price < 0
