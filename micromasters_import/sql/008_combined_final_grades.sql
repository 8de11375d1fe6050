-- 008 combined final grades
-- Rule: for courses that have exam runs, the best `complete` and passed final grade per
-- (user, run) is combined with the best passed exam score per (user, course):
-- combined = run_grade * 100 * 0.4 + exam_score * 0.6, computed in numeric;
-- grade = round(combined / 100, 3); letter A if combined >= 82.5, B >= 65, C >= 55,
-- D >= 50, else F; passed = true (also for an F: both parts were passed);
-- set_by_admin = false; timestamps from the chosen final grade. Final grades with a NULL
-- grade are ignored (staging keeps only complete, passed, non-NULL grades). The MITx Online
-- run is the one whose courseware_id is the MicroMasters course key.
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- Values are checked before they land, so the grade is a fraction in [0, 1]: a final grade
-- outside [0, 1], or NaN, is skipped (invalid_grade; of two final grades for one run a valid
-- one is chosen first); when any passed exam score of the learner for the course is outside
-- [0, 100], or NaN, the learner's grades in that course are skipped (invalid_exam_score),
-- rather than combined with another attempt's score.
-- Writes: courses_courserungrade
-- Source: grades_finalgrade
-- Needs: 002
WITH best_exam AS (
    SELECT user_id, course_id, max(score::numeric) AS score,
           bool_and(coalesce(score >= 0 AND score <= 100, false)) AS scores_valid
      FROM mm_passed_exam
     GROUP BY user_id, course_id
),
final_grade AS (
    -- The best grade per (user, run) is chosen before the run is joined (the join keeps or
    -- drops a (user, run) group whole), so that the sort carries the grades' columns alone.
    SELECT fg.*, r.course_id AS mm_course_id, r.edx_course_key
      FROM (SELECT DISTINCT ON (user_id, course_run_id) id AS ref, *
              FROM mm_finalgrade
             ORDER BY user_id, course_run_id, (grade >= 0 AND grade <= 1) DESC, grade DESC, id
           ) AS fg
      JOIN mm_courserun r ON r.id = fg.course_run_id
),
candidate AS (
    SELECT fg.ref, fg.created_on, fg.updated_on, l.user_id, cr.id AS course_run_id,
           fg.grade, x.score AS exam_score,
           CASE
               WHEN l.mm_user_id IS NULL THEN 'no_linked_account'
               WHEN l.ambiguous THEN 'ambiguous_mitxonline_link'
               WHEN l.user_id IS NULL THEN 'unknown_mitxonline_user'
               WHEN NOT EXISTS (SELECT 1 FROM mm_exam_course ec WHERE ec.course_id = fg.mm_course_id)
                   THEN 'course_has_no_exam'
               WHEN cr.id IS NULL THEN 'run_not_imported'
               WHEN x.score IS NULL THEN 'exam_not_passed'
               WHEN NOT (fg.grade >= 0 AND fg.grade <= 1) THEN 'invalid_grade'
               WHEN NOT x.scores_valid THEN 'invalid_exam_score'
               WHEN EXISTS (SELECT 1 FROM courses_courserungrade g
                             WHERE g.user_id = l.user_id AND g.course_run_id = cr.id)
                   THEN 'already_present'
               ELSE 'eligible'
           END AS outcome
      FROM final_grade fg
      LEFT JOIN mm_learner l ON l.mm_user_id = fg.user_id
      LEFT JOIN courses_courserun cr ON cr.courseware_id = fg.edx_course_key
      LEFT JOIN best_exam x ON x.user_id = fg.user_id AND x.course_id = fg.mm_course_id
),
inserted AS (
    INSERT INTO courses_courserungrade (
        created_on, updated_on, user_id, course_run_id, grade, letter_grade, passed,
        set_by_admin
    )
    SELECT created_on, updated_on, user_id, course_run_id, round(combined / 100, 3),
           CASE
               WHEN combined >= 82.5 THEN 'A'
               WHEN combined >= 65 THEN 'B'
               WHEN combined >= 55 THEN 'C'
               WHEN combined >= 50 THEN 'D'
               ELSE 'F'
           END,
           true, false
      FROM candidate
      -- Combined here, for the eligible grades only: the numeric arithmetic on every final
      -- grade cost about 0.3 s at 200,000 learners.
     CROSS JOIN LATERAL (SELECT grade::numeric * 100 * 0.4 + exam_score * 0.6 AS combined) AS c
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(courses_courserungrade::text) AS row_hash, user_id, course_run_id
)
