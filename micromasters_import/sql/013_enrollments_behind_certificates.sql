-- 013 enrollments behind certificates
-- Rule: every course certificate imported by 009 (its uuid is a MicroMasters certificate
-- hash) whose learner has no enrollment in its run gets a verified, active enrollment:
-- edx_enrolled = true, edx_emails_subscription = false, edx_enrollment_retry_count = 0,
-- change_status NULL, timestamps from the certificate. MicroMasters dropped cached
-- enrollments when a learner unenrolled, so 003 misses these learners.
-- A certificate of a learner whose mitxonline link is ambiguous gets no enrollment, even when
-- it is in MITx Online (ambiguous_mitxonline_link). The step copies no source value.
-- Writes: courses_courserunenrollment
-- Needs: 009
WITH candidate AS (
    SELECT DISTINCT ON (cc.id)
           c.id AS ref, cc.user_id, cc.course_run_id, cc.created_on, cc.updated_on,
           CASE
               WHEN l.ambiguous THEN 'ambiguous_mitxonline_link'
               WHEN EXISTS (SELECT 1 FROM courses_courserunenrollment e
                             WHERE e.user_id = cc.user_id AND e.run_id = cc.course_run_id)
                   THEN 'already_present'
               ELSE 'eligible'
           END AS outcome
      FROM mm_coursecert c
      JOIN courses_courseruncertificate cc ON cc.uuid = c.uuid
      LEFT JOIN mm_learner l ON l.mm_user_id = c.user_id
     ORDER BY cc.id, c.id
),
inserted AS (
    INSERT INTO courses_courserunenrollment (
        created_on, updated_on, user_id, change_status, active, enrollment_mode, run_id,
        edx_enrolled, edx_emails_subscription, edx_enrollment_retry_count
    )
    SELECT created_on, updated_on, user_id, NULL, true, 'verified', course_run_id,
           true, false, 0
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id, md5(courses_courserunenrollment::text) AS row_hash, user_id, run_id
),
-- Provenance: each inserted row, the source row the rule chose for it, and the row's hash as
-- inserted, in the step's own transaction (see micromasters_import.revert).
provenance AS (
    INSERT INTO micromasters_import_importedrow (
        ledger_id, target_table, target_id, source_table, source_id, row_hash
    )
    SELECT NULLIF(current_setting('micromasters_import.ledger_id', true), '')::bigint,
           'courses_courserunenrollment', i.id, 'grades_micromasterscoursecertificate', min(c.ref), i.row_hash
      FROM inserted i
      JOIN candidate c ON c.outcome = 'eligible' AND c.user_id = i.user_id AND c.course_run_id = i.run_id
     WHERE NULLIF(current_setting('micromasters_import.ledger_id', true), '') IS NOT NULL
     GROUP BY i.id, i.row_hash
)
SELECT outcome, count(*) AS rows, (array_agg(ref ORDER BY ref))[1:COALESCE(NULLIF(current_setting('micromasters_import.sample_limit', true), '')::int, 10)] AS sample
  FROM candidate GROUP BY outcome
UNION ALL
SELECT 'inserted', count(*), NULL FROM inserted;
