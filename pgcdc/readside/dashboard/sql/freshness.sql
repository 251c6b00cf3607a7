-- panel: pipeline health, freshness
-- grain: one row: the newest source commit the warehouse shows, over every captured table
-- sources: pgcdc_load_state.newest_commit (what `pgcdc status` and the freshness alarm read;
--          one small table, no scan of the facts)
SELECT 'pgcdc_load_state' AS source, max(newest_commit) AS newest_commit
FROM pgcdc_load_state
