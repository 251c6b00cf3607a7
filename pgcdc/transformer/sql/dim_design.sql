-- target: dim_design
-- kind: dimension
-- grain: one row per design, latest values (type 1)
-- key: design_id
-- sources: public.design
-- incremental: recomputed when design changes; only rows that differ are emitted
SELECT design_id, design_name, file_location, file_name
FROM design
