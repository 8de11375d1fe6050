-- 011 program enrollments
-- Rule: every MicroMasters program enrollment of a program mapped by ProgramId becomes an
-- active MITx Online program enrollment in mode 'audit', change_status NULL. MicroMasters
-- keeps no enrollment date, so the timestamps are the time of the import, as the ORM writes.
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- The step copies no source value: nothing to bound.
-- Writes: courses_programenrollment
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
    RETURNING id, md5(courses_programenrollment::text) AS row_hash, user_id, program_id
),
-- Provenance: each inserted row, the source row the rule chose for it, and the row's hash as
-- inserted, in the step's own transaction (see micromasters_import.revert).
provenance AS (
    INSERT INTO micromasters_import_importedrow (
        ledger_id, target_table, target_id, source_table, source_id, row_hash
    )
    SELECT NULLIF(current_setting('micromasters_import.ledger_id', true), '')::bigint,
           'courses_programenrollment', i.id, 'dashboard_programenrollment', min(c.ref), i.row_hash
      FROM inserted i
      JOIN candidate c ON c.outcome = 'eligible' AND c.user_id = i.user_id AND c.program_id = i.program_id
     WHERE NULLIF(current_setting('micromasters_import.ledger_id', true), '') IS NOT NULL
     GROUP BY i.id, i.row_hash
)
SELECT outcome, count(*) AS rows, (array_agg(ref ORDER BY ref))[1:COALESCE(NULLIF(current_setting('micromasters_import.sample_limit', true), '')::int, 10)] AS sample
  FROM candidate GROUP BY outcome
UNION ALL
SELECT 'inserted', count(*), NULL FROM inserted;
