-- 011 program enrollments
-- Rule: every MicroMasters program enrollment of a program mapped by ProgramId becomes an
-- active MITx Online program enrollment in mode 'audit', change_status NULL. MicroMasters
-- keeps no enrollment date, so the timestamps are the time of the import, as the ORM writes.
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- The step copies no source value: nothing to bound.
-- Writes: courses_programenrollment
-- Source: dashboard_programenrollment
-- Needs: nothing
WITH candidate AS (
    SELECT pe.id AS ref, l.user_id, m.program_id,
           CASE
               WHEN l.mm_user_id IS NULL THEN 'no_linked_account'
               WHEN l.ambiguous THEN 'ambiguous_mitxonline_link'
               WHEN l.user_id IS NULL THEN 'unknown_mitxonline_user'
               WHEN m.program_id IS NULL THEN 'program_not_mapped'
               WHEN EXISTS (SELECT 1 FROM courses_programenrollment x
                             WHERE x.user_id = l.user_id AND x.program_id = m.program_id)
                   THEN 'already_present'
               ELSE 'eligible'
           END AS outcome
      FROM mm_programenrollment pe
      LEFT JOIN mm_learner l ON l.mm_user_id = pe.user_id
      LEFT JOIN micromasters_import_programid m ON m.micromasters_id = pe.program_id
),
inserted AS (
    INSERT INTO courses_programenrollment (
        created_on, updated_on, user_id, change_status, active, enrollment_mode, program_id
    )
    SELECT now(), now(), user_id, NULL, true, 'audit', program_id
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(courses_programenrollment::text) AS row_hash, user_id, program_id
)
