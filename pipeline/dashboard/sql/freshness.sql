-- panel: pipeline health, freshness
-- grain: one row per fact table: its newest source commit time
-- sources: fact_sales_order, fact_payment (every version counts: freshness is about arrival)
SELECT 'fact_sales_order' AS fact, max(source_commit_ts) AS newest_commit
FROM fact_sales_order
UNION ALL
SELECT 'fact_payment', max(source_commit_ts)
FROM fact_payment
