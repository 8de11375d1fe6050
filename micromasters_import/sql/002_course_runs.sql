-- 002 course runs
-- Rule: every MicroMasters run that is not discontinued, runs on the `edxorg` backend, has a
-- course key, and belongs to a course mapped by CourseId becomes a MITx Online run, unless a
-- run with that key (courseware_id) already exists. run_tag is the key's last `+` or `/`
-- segment; expiration_date = end_date + 1 day; live, not self-paced, not a source run,
-- language 'en', not the primary language, no variant; has_courseware_url when MicroMasters
-- had an enrollment URL. A run that would collide with an existing run on another unique key
-- (`unique_language_per_group`: same course, run tag, language, no contract, no variant) is a
-- conflict; when new runs collide with each other, the lowest MicroMasters run id wins.
-- Values are checked before they land, and a run that fails is skipped by id: the title and
-- the course key must fit title and courseware_id varchar(255), the run tag MITx Online's
-- 100 characters (text_too_long); expiration_date = end_date + 1 day must not fall before
-- start_date, which MITx Online's CourseRun.clean() forbids (invalid_run_dates).
-- Writes: courses_courserun
-- Source: courses_courserun
-- Needs: nothing
WITH run AS (
    SELECT r.id AS ref,
           r.*,
           regexp_replace(r.edx_course_key, '^.*[+/]', '') AS run_tag,
           m.course_id AS target_course_id
      FROM mm_courserun r
      LEFT JOIN micromasters_import_courseid m ON m.micromasters_id = r.course_id
),
classified AS (
    SELECT run.*,
           CASE
               WHEN run.is_discontinued THEN 'run_discontinued'
               WHEN run.courseware_backend <> 'edxorg' THEN 'run_not_on_edxorg'
               WHEN run.edx_course_key IS NULL OR run.edx_course_key = '' THEN 'run_without_course_key'
               WHEN run.target_course_id IS NULL THEN 'course_not_mapped'
               WHEN char_length(run.title) > 255 OR char_length(run.edx_course_key) > 255
                 OR char_length(run.run_tag) > 100 THEN 'text_too_long'
               WHEN run.end_date + interval '1 day' < run.start_date THEN 'invalid_run_dates'
               WHEN EXISTS (SELECT 1 FROM courses_courserun cr
                             WHERE cr.courseware_id = run.edx_course_key) THEN 'already_present'
               WHEN EXISTS (SELECT 1 FROM courses_courserun cr
                             WHERE cr.course_id = run.target_course_id
                               AND cr.run_tag = run.run_tag
                               AND cr.language = 'en'
                               AND NOT cr.is_source_run
                               AND cr.b2b_contract_id IS NULL
                               AND cr.variant_length = ''
                               AND cr.variant_industry = '') THEN 'conflict'
               ELSE 'eligible'
           END AS row_outcome
      FROM run
),
candidate AS (
    SELECT classified.*,
           CASE
               WHEN row_outcome = 'eligible'
                AND row_number() OVER (PARTITION BY row_outcome, target_course_id, run_tag ORDER BY ref) > 1
               THEN 'conflict'
               ELSE row_outcome
           END AS outcome
      FROM classified
),
inserted AS (
    INSERT INTO courses_courserun (
        created_on, updated_on, language, variant_length, variant_industry, course_id, title,
        courseware_id, run_tag, has_courseware_url, start_date, end_date,
        certificate_available_date, enrollment_start, enrollment_end, expiration_date,
        upgrade_deadline, live, is_self_paced, b2b_contract_id, is_source_run,
        is_primary_language
    )
    SELECT now(), now(), 'en', '', '', target_course_id, title,
           edx_course_key, run_tag, enrollment_url IS NOT NULL, start_date, end_date,
           NULL, enrollment_start, enrollment_end, end_date + interval '1 day',
           upgrade_deadline, true, false, NULL, false,
           false
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(courses_courserun::text) AS row_hash, courseware_id AS edx_course_key
)
