-- target: dim_date
-- kind: derived
-- grain: one row per calendar date used by any fact (agreed dates far ahead included)
-- key: date_id
-- sources: fact_sales_order, fact_purchase_order, fact_payment
-- incremental: the dates of this run's fact rows; re-emitting a date is harmless (same values)
WITH dates AS (
    SELECT unnest([created_date, last_updated_date, agreed_payment_date, agreed_delivery_date])
           AS d FROM fact_sales_order
    UNION SELECT unnest([created_date, last_updated_date, agreed_payment_date,
                         agreed_delivery_date]) FROM fact_purchase_order
    UNION SELECT unnest([created_date, last_updated_date, payment_date]) FROM fact_payment
)
SELECT d AS date_id,
       year(d)::INTEGER AS year,
       month(d)::INTEGER AS month,
       day(d)::INTEGER AS day,
       isodow(d)::INTEGER AS day_of_week,
       dayname(d) AS day_name,
       monthname(d) AS month_name,
       quarter(d)::INTEGER AS quarter
FROM dates
WHERE d IS NOT NULL
