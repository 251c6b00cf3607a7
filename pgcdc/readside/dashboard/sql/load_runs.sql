-- panel: pipeline health, last runs
-- grain: one row per batch the loader applied, newest first (the last ten)
-- sources: pgcdc_load_state (written by the loader in the same transaction as the batch)
SELECT run, bound, loaded_at
FROM pgcdc_load_state
ORDER BY run DESC
LIMIT 10
