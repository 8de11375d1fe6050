-- 009 course certificates
-- Rule: one MITx Online certificate per MicroMasters course certificate; duplicates per
-- (user, course) collapse to one: the earliest created_on (then lowest id) supplies uuid (the
-- 32-hex hash read as a UUID) and issue_date (its created_on), the others are superseded.
-- The certificate sits on the run chosen among the user's courses_courserungrade rows for
-- runs of the course mapped by CourseId: the highest grade, then the latest end_date, then the
-- highest run id. A hash that is not 32 hex digits is reported, never cast. The page revision comes from CourseCertificateRevisionId; a course without
-- that mapping is skipped and reported. A learner who already holds a certificate for any
-- run of the course keeps it: the same uuid is "already present", another is a conflict.
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- The step copies no source value but the hash (checked) and the timestamps.
-- Writes: courses_courseruncertificate
-- Source: grades_micromasterscoursecertificate
-- Needs: 008
WITH cert AS (
    SELECT c.id AS ref, c.*, l.mm_user_id AS linked_mm_user_id, l.ambiguous AS ambiguous_link,
           l.user_id AS target_user_id,
           m.course_id AS target_course_id,
           rev.id AS revision_mapping_id, rev.certificate_page_revision_id,
           row_number() OVER (PARTITION BY c.user_id, c.course_id
                              ORDER BY c.uuid IS NULL, c.created_on, c.id) AS rank
      FROM mm_coursecert c
      LEFT JOIN mm_learner l ON l.mm_user_id = c.user_id
      LEFT JOIN micromasters_import_courseid m ON m.micromasters_id = c.course_id
      LEFT JOIN micromasters_import_coursecertificaterevisionid rev ON rev.course_id = m.course_id
),
best_run AS (
    SELECT DISTINCT ON (g.user_id, cr.course_id)
           g.user_id, cr.course_id, cr.id AS course_run_id
      FROM courses_courserungrade g
      JOIN courses_courserun cr ON cr.id = g.course_run_id
     WHERE cr.course_id IN (SELECT course_id FROM micromasters_import_courseid)
     ORDER BY g.user_id, cr.course_id, g.grade DESC, cr.end_date DESC NULLS LAST, cr.id DESC
),
candidate AS (
    SELECT cert.ref, cert.created_on, cert.updated_on, cert.uuid, cert.target_user_id,
           cert.certificate_page_revision_id, br.course_run_id,
           CASE
               WHEN cert.linked_mm_user_id IS NULL THEN 'no_linked_account'
               WHEN cert.ambiguous_link THEN 'ambiguous_mitxonline_link'
               WHEN cert.target_user_id IS NULL THEN 'unknown_mitxonline_user'
               WHEN cert.target_course_id IS NULL THEN 'course_not_mapped'
               WHEN cert.revision_mapping_id IS NULL THEN 'revision_not_mapped'
               WHEN cert.uuid IS NULL THEN 'invalid_hash'
               WHEN cert.rank > 1 THEN 'superseded'
               WHEN EXISTS (SELECT 1 FROM courses_courseruncertificate cc
                             WHERE cc.uuid = cert.uuid AND cc.user_id = cert.target_user_id)
                   THEN 'already_present'
               WHEN EXISTS (SELECT 1 FROM courses_courseruncertificate cc WHERE cc.uuid = cert.uuid)
                   THEN 'conflict'
               WHEN EXISTS (SELECT 1 FROM courses_courseruncertificate cc
                              JOIN courses_courserun cr ON cr.id = cc.course_run_id
                             WHERE cc.user_id = cert.target_user_id
                               AND cr.course_id = cert.target_course_id) THEN 'conflict'
               WHEN br.course_run_id IS NULL THEN 'no_imported_grade'
               ELSE 'eligible'
           END AS outcome
      FROM cert
      LEFT JOIN best_run br ON br.user_id = cert.target_user_id AND br.course_id = cert.target_course_id
),
inserted AS (
    INSERT INTO courses_courseruncertificate (
        created_on, updated_on, user_id, uuid, is_revoked, issue_date,
        verifiable_credential_id, course_run_id, certificate_page_revision_id
    )
    SELECT created_on, updated_on, target_user_id, uuid, false, created_on,
           NULL, course_run_id, certificate_page_revision_id
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(courses_courseruncertificate::text) AS row_hash, uuid
)
