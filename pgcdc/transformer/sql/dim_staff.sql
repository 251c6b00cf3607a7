-- target: dim_staff
-- kind: dimension
-- grain: one row per staff member, latest values (type 1)
-- key: staff_id
-- sources: public.staff, public.department
-- incremental: recomputed when staff or department changes; only rows that differ are emitted
SELECT s.staff_id, s.first_name, s.last_name, d.department_name, d.location, s.email_address
FROM staff AS s
LEFT JOIN department AS d ON d.department_id = s.department_id
