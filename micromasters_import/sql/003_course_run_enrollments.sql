-- 003 course run enrollments
-- Rule: one enrollment per (user, run) from MicroMasters' cached enrollments, only for
-- learners who passed a proctored exam of that run's course. The MITx Online run is the one
-- whose courseware_id is the MicroMasters course key. active = data->'is_active' (true when
-- the key is absent or null: MicroMasters deletes the cached row when a learner unenrolls),
-- enrollment_mode = data->>'mode' ('audit' when missing or null), edx_enrolled = true,
-- edx_emails_subscription = false, edx_enrollment_retry_count = 0, change_status NULL.
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- Values are checked before they land, and a row that fails is skipped by id, never cast:
-- is_active must be a JSON boolean or null when present (invalid_is_active: "maybe", "true",
-- 1, ...);
-- the mode must be one of the edX modes audit, honor, verified, professional,
-- no-id-professional, credit, masters, all within enrollment_mode's 20 characters
-- (invalid_enrollment_mode: any other value, however long).
-- Writes: courses_courserunenrollment
-- Source: dashboard_cachedenrollment
-- Needs: 002
WITH candidate AS (
    SELECT e.id AS ref,
           l.user_id,
           cr.id AS run_id,
           e.is_active,
           coalesce(e.mode, 'audit') AS enrollment_mode,
           CASE
               WHEN l.mm_user_id IS NULL THEN 'no_linked_account'
               WHEN l.ambiguous THEN 'ambiguous_mitxonline_link'
               WHEN l.user_id IS NULL THEN 'unknown_mitxonline_user'
               WHEN cr.id IS NULL THEN 'run_not_imported'
               WHEN NOT EXISTS (SELECT 1 FROM mm_passed_exam x
                                 WHERE x.user_id = e.user_id AND x.course_id = r.course_id)
                   THEN 'exam_not_passed'
               WHEN coalesce(jsonb_typeof(e.is_active), 'null') NOT IN ('boolean', 'null')
                   THEN 'invalid_is_active'
               WHEN coalesce(e.mode, 'audit') NOT IN ('audit', 'honor', 'verified', 'professional',
                                                      'no-id-professional', 'credit', 'masters')
                   THEN 'invalid_enrollment_mode'
               WHEN EXISTS (SELECT 1 FROM courses_courserunenrollment ce
                             WHERE ce.user_id = l.user_id AND ce.run_id = cr.id)
                   THEN 'already_present'
               ELSE 'eligible'
           END AS outcome
      FROM mm_cachedenrollment e
      JOIN mm_courserun r ON r.id = e.course_run_id
      LEFT JOIN mm_learner l ON l.mm_user_id = e.user_id
      LEFT JOIN courses_courserun cr ON cr.courseware_id = r.edx_course_key
),
inserted AS (
    INSERT INTO courses_courserunenrollment (
        created_on, updated_on, user_id, change_status, active, enrollment_mode, run_id,
        edx_enrolled, edx_emails_subscription, edx_enrollment_retry_count
    )
    SELECT now(), now(), user_id, NULL, is_active IS DISTINCT FROM 'false'::jsonb,
           enrollment_mode, run_id,
           true, false, 0
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(courses_courserunenrollment::text) AS row_hash, user_id, run_id
)
