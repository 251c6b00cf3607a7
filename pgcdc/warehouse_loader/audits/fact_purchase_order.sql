-- audit: current purchase orders whose keys resolve in the dimensions, with sane values
-- scope: the entities of the batch just loaded (their current version)
-- requires: fact_purchase_order, dim_staff, dim_counterparty, dim_currency, dim_location
SELECT 'fact_purchase_order' AS target, f.purchase_order_id AS id,
       CASE WHEN st.staff_id IS NULL THEN 'staff_id not in dim_staff'
            WHEN cp.counterparty_id IS NULL THEN 'counterparty_id not in dim_counterparty'
            WHEN cu.currency_id IS NULL THEN 'currency_id not in dim_currency'
            WHEN lo.location_id IS NULL THEN 'agreed_delivery_location_id not in dim_location'
            WHEN f.item_quantity IS NULL OR f.item_quantity <= 0 THEN 'item_quantity not positive'
       END AS problem
FROM (SELECT * FROM (SELECT v.*, row_number() OVER (PARTITION BY v.purchase_order_id
                                   ORDER BY v.source_lsn DESC, v.source_seq DESC) AS _rn
                      FROM fact_purchase_order AS v WHERE v.purchase_order_id IN (
                          SELECT id FROM pgcdc_audit_scope WHERE target = 'fact_purchase_order')) AS c
      WHERE _rn = 1 AND NOT deleted) AS f
LEFT JOIN dim_staff AS st ON st.staff_id = f.staff_id
LEFT JOIN dim_counterparty AS cp ON cp.counterparty_id = f.counterparty_id
LEFT JOIN dim_currency AS cu ON cu.currency_id = f.currency_id
LEFT JOIN dim_location AS lo ON lo.location_id = f.agreed_delivery_location_id
WHERE st.staff_id IS NULL OR cp.counterparty_id IS NULL OR cu.currency_id IS NULL
   OR lo.location_id IS NULL OR f.item_quantity IS NULL OR f.item_quantity <= 0
