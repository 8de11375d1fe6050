-- 013 enrollments behind certificates
-- Rule: every course certificate imported by 009 (its uuid is a MicroMasters certificate
-- hash) whose learner has no enrollment in its run gets a verified, active enrollment:
-- edx_enrolled = true, edx_emails_subscription = false, edx_enrollment_retry_count = 0,
-- change_status NULL, timestamps from the certificate. MicroMasters dropped cached
-- enrollments when a learner unenrolled, so 003 misses these learners.
-- A certificate of a learner whose mitxonline link is ambiguous gets no enrollment, even when
-- it is in MITx Online (ambiguous_mitxonline_link). The step copies no source value.
-- Writes: courses_courserunenrollment
-- Source: grades_micromasterscoursecertificate
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
    RETURNING id AS target_id, md5(courses_courserunenrollment::text) AS row_hash, user_id, run_id AS course_run_id
)
