-- 010 paid course runs
-- Rule: one PaidCourseRun per (user, run, order) for every MITx Online order in state
-- `fulfilled` whose reference_number belongs to a MicroMasters order, for each run it has a
-- line for. The candidates are the MicroMasters lines, so that a line whose order or line
-- did not come over is reported here too. Timestamps are the order's. Two lines of one
-- order for the same run make one paid run (the lowest line id wins; the other is reported
-- as superseded, on a rerun too).
-- A line of a learner whose mitxonline link is ambiguous is not imported, even when an
-- order with its reference number is in MITx Online (ambiguous_mitxonline_link). The step
-- copies no source value: nothing to bound.
-- Writes: courses_paidcourserun
-- Source: ecommerce_line
-- Needs: 005, 006
WITH courserun_type AS (
    SELECT id FROM django_content_type WHERE app_label = 'courses' AND model = 'courserun'
),
-- The (order, run) pairs MITx Online has a line for, joined once (an EXISTS here was
-- evaluated, and its lines hashed, wherever the inlined outcome was read).
order_run AS (
    SELECT DISTINCT order_id, purchased_object_id AS run_id
      FROM ecommerce_line
     WHERE purchased_content_type_id = (SELECT id FROM courserun_type)
),
line AS (
    SELECT li.id AS ref, l.ambiguous AS ambiguous_link, eo.id AS target_order_id, eo.state,
           eo.purchaser_id,
           eo.created_on, eo.updated_on, cr.id AS run_id,
           orr.order_id IS NOT NULL AS has_line
      FROM mm_line li
      JOIN mm_order o ON o.id = li.order_id
      LEFT JOIN mm_learner l ON l.mm_user_id = o.user_id
      LEFT JOIN ecommerce_order eo ON eo.reference_number = o.reference_number
      LEFT JOIN courses_courserun cr ON cr.courseware_id = li.course_key
      LEFT JOIN order_run orr ON orr.order_id = eo.id AND orr.run_id = cr.id
),
classified AS (
    SELECT line.*,
           CASE
               WHEN ambiguous_link THEN 'ambiguous_mitxonline_link'
               WHEN target_order_id IS NULL THEN 'order_not_imported'
               WHEN state <> 'fulfilled' THEN 'order_not_fulfilled'
               WHEN run_id IS NULL OR NOT has_line THEN 'line_not_imported'
               ELSE 'eligible'
           END AS row_outcome
      FROM line
),
candidate AS (
    SELECT classified.*,
           CASE
               WHEN row_outcome <> 'eligible' THEN row_outcome
               WHEN row_number() OVER (PARTITION BY row_outcome, target_order_id, run_id ORDER BY ref) > 1
                   THEN 'superseded'
               WHEN EXISTS (SELECT 1 FROM courses_paidcourserun pr
                             WHERE pr.user_id = purchaser_id AND pr.course_run_id = run_id
                               AND pr.order_id = target_order_id) THEN 'already_present'
               ELSE 'eligible'
           END AS outcome
      FROM classified
),
inserted AS (
    INSERT INTO courses_paidcourserun (created_on, updated_on, user_id, course_run_id, order_id)
    SELECT created_on, updated_on, purchaser_id, run_id, target_order_id
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(courses_paidcourserun::text) AS row_hash, user_id AS purchaser_id, course_run_id AS run_id, order_id AS target_order_id
)
