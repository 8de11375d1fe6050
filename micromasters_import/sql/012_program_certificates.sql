-- 012 program certificates
-- Rule: every MicroMasters program certificate of a program mapped by ProgramId becomes a
-- MITx Online program certificate: uuid = the 32-hex hash read as a UUID, issue_date = the
-- source created_on, the MicroMasters timestamps kept, the page revision from ProgramId.
-- A hash that is not 32 hex digits is reported, never cast. A learner who already holds a
-- certificate for the program keeps it: the same uuid is "already present", another is a
-- conflict.
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- The step copies no source value but the hash (checked) and the timestamps.
-- Writes: courses_programcertificate
-- Source: grades_micromastersprogramcertificate
-- Needs: nothing
WITH candidate AS (
    SELECT pc.id AS ref, pc.created_on, pc.updated_on, pc.uuid, l.user_id, m.program_id,
           m.program_certificate_revision_id,
           CASE
               WHEN l.mm_user_id IS NULL THEN 'no_linked_account'
               WHEN l.ambiguous THEN 'ambiguous_mitxonline_link'
               WHEN l.user_id IS NULL THEN 'unknown_mitxonline_user'
               WHEN m.program_id IS NULL THEN 'program_not_mapped'
               WHEN pc.uuid IS NULL THEN 'invalid_hash'
               WHEN EXISTS (SELECT 1 FROM courses_programcertificate x
                             WHERE x.uuid = pc.uuid AND x.user_id = l.user_id)
                   THEN 'already_present'
               WHEN EXISTS (SELECT 1 FROM courses_programcertificate x
                             WHERE x.uuid = pc.uuid
                                OR (x.user_id = l.user_id AND x.program_id = m.program_id))
                   THEN 'conflict'
               ELSE 'eligible'
           END AS outcome
      FROM mm_programcert pc
      LEFT JOIN mm_learner l ON l.mm_user_id = pc.user_id
      LEFT JOIN micromasters_import_programid m ON m.micromasters_id = pc.program_id
),
inserted AS (
    INSERT INTO courses_programcertificate (
        created_on, updated_on, user_id, uuid, is_revoked, issue_date,
        verifiable_credential_id, program_id, certificate_page_revision_id
    )
    SELECT created_on, updated_on, user_id, uuid, false, created_on,
           NULL, program_id, program_certificate_revision_id
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(courses_programcertificate::text) AS row_hash, uuid
)
