"""Fill the MicroMasters source tables with a realistic, deterministic learner record.

Why set-based SQL: the benchmark needs 200,000 learners (about two and a half million rows);
generating them row by row from Python would take many minutes, while `INSERT ... SELECT`
over `generate_series` does it on the server in seconds. Every choice is a hash of the row's
key and the seed (`pseudorandom.Rand`), so the same `users` and `seed` always give the same
rows, ids included.

How the learner record hangs together, so that every import step has something to import
and the run report shows the everyday reasons something is skipped (the hostile cases the
steps also refuse, such as values out of bounds or a uid claimed twice, are left to the step
tests):

* each learner belongs to one program and makes 1-10 *attempts* (a course run they took);
  learners linked to MITx Online also take `mitxonline` runs, the others only `edxorg` ones;
* an attempt usually has a cached enrollment (MicroMasters dropped some when learners
  unenrolled: step 013 recreates those behind certificates) and often a final grade;
* learners who passed a course with exams may sit the proctored exam, some twice;
* a course certificate needs a passed, paid (verified) run and a passed exam; a few are
  duplicated and a couple have a broken hash; program certificates go to learners with
  certificates in several courses of the program;
* some learners ask for financial aid (every status, sometimes several requests), and some
  paid attempts have an order with its lines and CyberSource receipts.

The generator works with any DB-API cursor and any schema, so the command can fill the
`public` schema of a separate database and a test can fill a schema of its own database.
"""

import time
from collections.abc import Callable
from contextlib import contextmanager, suppress

from micromasters_import.demo import catalog
from micromasters_import.demo.pseudorandom import (
    COUNTRIES,
    Rand,
    edx_uid_sql,
    email_sql,
    first_name_sql,
    joined_sql,
    last_name_sql,
    linked_on_sql,
    linked_sql,
    missing_sql,
    sql_array,
    sql_literal,
    uid_sql,
)
from micromasters_import.source.tables import TABLES, create_source_schema, quote_ident

ISO = """'YYYY-MM-DD"T"HH24:MI:SS"Z"'"""

# The demo's own scratch tables: session-local, dropped at the end.
WORK_TABLES = (
    "demo_course",
    "demo_run",
    "demo_user",
    "demo_attempt",
    "demo_exam",
    "demo_certified",
    "demo_order",
    "demo_order_line",
)


def iso(column: str) -> str:
    """A timestamptz formatted as the edX APIs write it into cached JSON."""
    return f"to_char(({column}) AT TIME ZONE 'UTC', {ISO})"


@contextmanager
def search_path(cursor, schema: str):
    """Point unqualified names at `schema` for a while, and restore the caller's path."""
    cursor.execute("SELECT current_setting('search_path')")
    previous = cursor.fetchone()[0]
    cursor.execute(f"SET search_path TO {quote_ident(schema)}")
    try:
        yield
    except Exception:
        # In an aborted transaction the restore fails too; the first error is the one to see.
        with suppress(Exception):
            cursor.execute("SELECT set_config('search_path', %s, false)", [previous])
        raise
    cursor.execute("SELECT set_config('search_path', %s, false)", [previous])


@contextmanager
def constraints_deferred(cursor, schema: str):
    """Load without per-row foreign-key checks, then re-add every key and validate it once.

    The source's foreign keys are deferred triggers: checked one row at a time at commit,
    they cost more than generating the rows. Re-adding a key checks all rows in one join.
    The definitions are read from the catalog, so schema.sql stays the only place they live.
    """
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = %s::regnamespace
         ORDER BY c.conrelid::regclass::text, c.conname
        """,
        [quote_ident(schema)],
    )
    keys = cursor.fetchall()
    # Plain (non-constraint) indexes are also cheaper to build once, sorted, at the end.
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relnamespace = %s::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
         ORDER BY 1
        """,
        [quote_ident(schema)],
    )
    indexes = cursor.fetchall()
    for table, name, _definition in keys:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote_ident(name)}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    for _name, definition in indexes:
        cursor.execute(definition)
    for table, name, definition in keys:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote_ident(name)} {definition}")


def tune_session(cursor) -> None:
    """Give the generating statements the memory they need.

    The scratch tables are temporary, so they live in `temp_buffers` (8MB by default): at
    200,000 learners they would spill to disk and the build would take minutes. That setting
    can only change before the session first touches a temporary table, so a session that
    already has (e.g. a test's) keeps its value; the build is only slower then. The sort and
    index memory is raised for the caller's transaction only (SET LOCAL).
    """
    cursor.execute("SAVEPOINT demo_tune")
    try:
        cursor.execute("SET temp_buffers = '512MB'")
    except Exception:
        cursor.execute("ROLLBACK TO SAVEPOINT demo_tune")
    cursor.execute("RELEASE SAVEPOINT demo_tune")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")


# --- the catalogue ---------------------------------------------------------------------------


def _insert_catalog(cursor) -> None:
    """Programs, courses, runs, exam runs and tiers: a few hundred rows, from `catalog`."""
    created, updated = "2016-09-01 12:00+00", "2024-01-01 12:00+00"
    cursor.executemany(
        "INSERT INTO courses_program (id, title, live, description, financial_aid_availability,"
        " ga_tracking_id, price, created_on, updated_on, num_required_courses,"
        " exam_attempts_first_date, exam_attempts_second_date)"
        " VALUES (%s, %s, true, %s, true, '', %s, %s, %s, %s, NULL, NULL)",
        [
            (p.id, p.title, f"The MicroMasters program in {p.title}.", p.price, created, updated,
             p.num_required_courses)
            for p in catalog.PROGRAMS
        ],
    )  # fmt: skip
    cursor.executemany(
        "INSERT INTO courses_course (id, title, thumbnail, description, prerequisites,"
        " program_id, position_in_program, contact_email, should_display_progress,"
        " course_number, edx_key) VALUES (%s, %s, NULL, %s, NULL, %s, %s, %s, true, %s, %s)",
        [
            (c.id, c.title, f"{c.title} ({c.number})", c.program_id, c.position,
             f"{catalog.program(c.program_id).code.lower()}@mit.edu", c.number, c.edx_key)
            for c in catalog.COURSES
        ],
    )  # fmt: skip
    cursor.executemany(
        "INSERT INTO courses_courserun (id, title, edx_course_key, enrollment_start, start_date,"
        " enrollment_url, prerequisites, course_id, fuzzy_start_date, end_date, enrollment_end,"
        " fuzzy_enrollment_start_date, upgrade_deadline, freeze_grade_date, courseware_backend,"
        " is_discontinued) VALUES (%s, %s, %s, %s, %s, %s, NULL, %s, %s, %s, %s, NULL, %s, %s,"
        " %s, %s)",
        [
            (r.id, r.title, r.key, r.enrollment_start, r.start, r.enrollment_url, r.course_id,
             r.fuzzy_start_date, r.end, r.enrollment_end, r.upgrade_deadline,
             r.freeze_grade_date, r.backend, r.discontinued)
            for r in catalog.RUNS
        ],
    )  # fmt: skip
    cursor.executemany(
        "INSERT INTO exams_examrun (id, created_on, updated_on, exam_series_code,"
        " date_first_schedulable, date_last_schedulable, date_first_eligible, date_last_eligible,"
        " authorized, course_id, date_grades_available, description, semester, passing_score,"
        " edx_exam_course_key) VALUES (%s, %s, %s, %s, %s::date - 30, %s::date, %s, %s, true,"
        " %s, %s::date + 25, %s, %s, 60.0, %s)",
        [
            (e.id, created, created, e.series_code, e.first_date, e.last_date, e.first_date,
             e.last_date, e.course_id, e.last_date, f"Proctored exam {e.semester}", e.semester,
             e.edx_exam_course_key)
            for e in catalog.EXAM_RUNS
        ],
    )  # fmt: skip
    cursor.executemany(
        "INSERT INTO financialaid_tier (id, name, description, created_on, updated_on)"
        " VALUES (%s, %s, %s, %s, %s)",
        [(t.id, t.name, t.description, created, updated) for t in catalog.TIERS],
    )
    cursor.executemany(
        "INSERT INTO financialaid_tierprogram (id, discount_amount, current, program_id, tier_id,"
        " income_threshold, created_on, updated_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (t.id, t.discount_amount, t.current, t.program_id, t.tier_id, t.income_threshold,
             created if t.current else "2016-06-01 12:00+00", updated)
            for t in catalog.TIER_PROGRAMS
        ],
    )  # fmt: skip


def _work_catalog_sql() -> list[str]:
    """Scratch lookups: each course's position, and each run's index among its runs.

    Attempts pick "the n-th run of the course" by arithmetic, so runs are numbered per
    course: `edxorg` runs first (0 .. n_edx-1), then `mitxonline` ones, which only learners
    linked to MITx Online take. The cached `course_details` JSON is built once per run here.
    """
    return [
        f"""
        CREATE TEMP TABLE demo_run AS
        SELECT r.id, r.course_id, r.edx_course_key AS key, r.courseware_backend AS backend,
               r.start_date, r.end_date, r.title,
               (row_number() OVER (PARTITION BY r.course_id
                                   ORDER BY r.courseware_backend = 'mitxonline', r.id) - 1)::int
                   AS idx,
               jsonb_build_object(
                   'course_id', r.edx_course_key,
                   'course_start', {iso("r.start_date")},
                   'course_end', {iso("r.end_date")},
                   'enrollment_start', {iso("r.enrollment_start")},
                   'enrollment_end', {iso("r.enrollment_end")},
                   'invite_only', false,
                   'pacing_type', 'instructor_paced',
                   'course_modes', jsonb_build_array(jsonb_build_object(
                       'slug', 'verified', 'name', 'Verified Certificate', 'min_price', 0,
                       'currency', 'usd', 'expiration_datetime', {iso("r.upgrade_deadline")},
                       'description', NULL, 'sku', NULL, 'suggested_prices', '')))
                   AS details
          FROM courses_courserun r
         WHERE r.edx_course_key IS NOT NULL
        """,
        "CREATE UNIQUE INDEX ON demo_run (course_id, idx)",
        "CREATE UNIQUE INDEX ON demo_run (id)",
        """
        CREATE TEMP TABLE demo_course AS
        SELECT c.id, c.program_id, (c.position_in_program - 1)::int AS pos,
               (count(*) OVER (PARTITION BY c.program_id))::int AS n_courses,
               EXISTS (SELECT 1 FROM exams_examrun e WHERE e.course_id = c.id) AS has_exam,
               (SELECT count(*) FROM demo_run r
                 WHERE r.course_id = c.id AND r.backend = 'edxorg')::int AS n_edx,
               (SELECT count(*) FROM demo_run r WHERE r.course_id = c.id)::int AS n_all,
               p.price
          FROM courses_course c JOIN courses_program p ON p.id = c.program_id
        """,
    ]


# --- learners --------------------------------------------------------------------------------


def _users_sql(r: Rand, users: int) -> list[str]:
    """The learners: accounts, profiles, and their edX.org and MITx Online identities."""
    countries = r.choose("v_country", COUNTRIES)
    programs = r.choose("v_program", (("1", 0.45), ("2", 0.40), ("3", 0.15)))
    return [
        f"""
        CREATE TEMP TABLE demo_user AS
        SELECT id, linked, missing,
               -- Learners without a MITx Online account signed in with edX.org.
               (NOT linked OR v_edx < 0.7) AS has_edx,
               {programs}::int AS program_id,
               {countries} AS country,
               diligence,
               1 + floor(v_attempts * 10)::int AS n_attempts,
               first_name, last_name, uid, edx_uid, email, joined
          FROM (
            SELECT id,
                   {linked_sql(r, "id")} AS linked,
                   {missing_sql("id")} AS missing,
                   {r.u("has_edx", "id")} AS v_edx,
                   {r.u("program", "id")} AS v_program,
                   {r.u("country", "id")} AS v_country,
                   {r.u("diligence", "id")} AS diligence,
                   {r.u("attempts", "id")} AS v_attempts,
                   {first_name_sql(r, "id")} AS first_name,
                   {last_name_sql(r, "id")} AS last_name,
                   {uid_sql(r, "id")} AS uid,
                   {edx_uid_sql(r, "id")} AS edx_uid,
                   {email_sql(r, "id")} AS email,
                   {joined_sql(r, "id")} AS joined
              FROM generate_series(1, {int(users)}) AS id
          ) v
        """,
        "ALTER TABLE demo_user ADD PRIMARY KEY (id)",
        f"""
        INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name,
                               last_name, email, is_staff, is_active, date_joined)
        SELECT id,
               '!' || substr(md5('demo-password:' || id::text), 1, 40),
               CASE WHEN {r.u("never_back", "id")} < 0.1 THEN NULL
                    ELSE joined + {r.u("last_login", "id")}
                                  * (timestamptz '2024-06-01 00:00+00' - joined)
               END,
               false,
               CASE WHEN has_edx THEN edx_uid ELSE uid END,
               '', '', email, false,
               {r.u("deactivated", "id")} >= 0.01,
               joined
          FROM demo_user ORDER BY id
        """,
        f"""
        INSERT INTO profiles_profile (
            id, user_id, first_name, last_name, preferred_name, romanized_first_name,
            romanized_last_name, account_privacy, email_optin, filled_out,
            agreed_to_terms_of_service, verified_micromaster_user, fake_user, country,
            birth_country, nationality, state_or_territory, city, address, postal_code,
            phone_number, date_of_birth, gender, preferred_language, edx_level_of_education,
            edx_name, edx_bio, edx_goals, edx_mailing_address, edx_employer, edx_job_title,
            edx_requires_parental_consent, edx_language_proficiencies, about_me, image,
            image_small, image_medium, student_id, mail_id, date_joined_micromasters, updated_on)
        SELECT id, id, first_name, last_name, first_name, NULL, NULL,
               {r.pick("privacy", ("public_to_mm", "public_to_mm", "private", "public"), "id")},
               {r.u("optin", "id")} < 0.4, true, true, {r.u("verified_mm", "id")} < 0.3, false,
               country, country, country, NULL, NULL, NULL, NULL, NULL,
               date '1960-01-01' + {r.i("birth", 14000, "id")},
               {r.pick("gender", ("f", "m", "o", "f", "m"), "id")},
               'en',
               {r.pick("education", ("b", "m", "p", "a", "hs", "other"), "id")},
               first_name || ' ' || last_name, NULL, NULL, NULL, NULL, NULL, false,
               '[{{"code": "en"}}]'::jsonb, NULL, NULL, NULL, NULL,
               id, md5('demo-mail-id:{r.seed}:' || id::text)::uuid, joined, joined
          FROM demo_user ORDER BY id
        """,
        f"""
        INSERT INTO social_auth_usersocialauth (id, provider, uid, user_id, created, modified,
                                                extra_data)
        SELECT row_number() OVER (ORDER BY user_id, provider), provider, uid, user_id,
               created, created + interval '1 day' * floor(days),
               jsonb_build_object(
                   'access_token', md5('access:' || provider || uid),
                   'refresh_token', md5('refresh:' || provider || uid),
                   'token_type', 'Bearer', 'expires_in', 36000, 'scope', 'read write',
                   'auth_time', floor(extract(epoch FROM created))::bigint,
                   'updated_at', extract(epoch FROM created)::float8)
          FROM (
            SELECT id AS user_id, 'edxorg' AS provider, edx_uid AS uid, joined AS created,
                   {r.u("edx_modified", "id")} * 1500 AS days
              FROM demo_user WHERE has_edx
            UNION ALL
            -- MicroMasters learners linked their MITx Online accounts from mid 2022 on.
            SELECT id, 'mitxonline', uid, {linked_on_sql(r, "id")},
                   {r.u("mitx_modified", "id")} * 400
              FROM demo_user WHERE linked
          ) s
        """,
    ]


# --- attempts, final grades and cached enrollments ------------------------------------------


def _attempts_sql(r: Rand) -> list[str]:
    """Attempts (a learner taking a run) and their final grades."""
    key = ("a.user_id", "a.k")
    return [
        f"""
        CREATE TEMP TABLE demo_attempt AS
        SELECT a.*,
               {r.u("verified", *key)} < 0.3 + 0.6 * a.diligence AS verified,
               {r.u("no_mode", *key)} < 0.03 AS no_mode,
               {r.u("inactive", *key)} < 0.05 AS inactive,
               -- MicroMasters deleted the cached enrollment when a learner unenrolled.
               {r.u("dropped", *key)} < 0.08 AS dropped,
               a.start_date - interval '1 day' * (5 + {r.u("enrolled", *key)} * 40) AS created,
               {r.u("graded", *key)} < 0.55 AS graded,
               {r.u("pending", *key)} < 0.06 AS pending,
               {r.u("passed", *key)} < 0.55 + 0.4 * a.diligence AS passed,
               {r.u("null_grade", *key)} < 0.004 AS null_grade,
               {r.u("grade", *key)} AS v_grade,
               a.end_date + interval '14 days' + interval '1 hour' * {r.i("graded_at", 72, *key)}
                   AS graded_on
          FROM (
            SELECT u.id AS user_id, k, u.diligence, u.linked, c.id AS course_id, c.program_id,
                   c.pos, c.n_courses, c.has_exam, c.price, run.id AS run_id,
                   run.idx AS run_idx, run.backend, run.start_date, run.end_date
              FROM demo_user u
              CROSS JOIN generate_series(0, 9) AS k
              JOIN demo_course c ON c.program_id = u.program_id AND c.pos = k % c.n_courses
              -- A retake of a course (k >= number of courses) is the course's next run.
              JOIN demo_run run
                ON run.course_id = c.id
               AND run.idx = ({r.i("first_run", 1000, "u.id", "c.id")} + k / c.n_courses)
                             % CASE WHEN u.linked THEN c.n_all ELSE c.n_edx END
             WHERE k < u.n_attempts
          ) a
        """,
        "ALTER TABLE demo_attempt ADD PRIMARY KEY (user_id, k)",
        """
        INSERT INTO grades_finalgrade (id, created_on, updated_on, grade, passed, status,
                                       course_run_id, user_id, course_run_paid_on_edx)
        SELECT row_number() OVER (ORDER BY user_id, k), graded_on,
               graded_on + interval '1 day' * floor(v_grade * 20),
               CASE WHEN null_grade THEN NULL
                    WHEN passed AND NOT pending
                    THEN round((0.6 + 0.4 * v_grade)::numeric, 2)::float8
                    ELSE round((0.05 + 0.5 * v_grade)::numeric, 2)::float8
               END,
               passed AND NOT pending,
               CASE WHEN pending THEN 'pending' ELSE 'complete' END,
               run_id, user_id,
               verified AND backend = 'edxorg'
          FROM demo_attempt
         WHERE graded
        """,
    ]


def _enrollments_sql() -> list[str]:
    """The cached enrollments of the attempts MicroMasters still had (not `dropped`).

    Written after the certificates, because some certificate holders' enrollments are
    dropped there (see `_exams_sql`).
    """
    return [
        f"""
        INSERT INTO dashboard_cachedenrollment (id, data, course_run_id, user_id)
        SELECT row_number() OVER (ORDER BY user_id, k),
               CASE WHEN no_mode THEN data - 'mode' ELSE data END,
               run_id, user_id
          FROM (
            SELECT a.*,
                   jsonb_build_object(
                       'user', CASE WHEN a.backend = 'mitxonline' THEN u.uid ELSE u.edx_uid END,
                       'mode', CASE WHEN verified THEN 'verified' ELSE 'audit' END,
                       'is_active', NOT inactive,
                       'created', {iso("created")},
                       'course_details', run.details) AS data
              FROM demo_attempt a
              JOIN demo_user u ON u.id = a.user_id
              JOIN demo_run run ON run.id = a.run_id
             WHERE NOT a.dropped
          ) e
        """,
    ]


# --- exams and certificates ----------------------------------------------------------------


def _exams_sql(r: Rand) -> list[str]:
    """Proctored exams of learners who passed a run of a course with exams; certificates."""
    key = ("x.user_id", "x.course_id")
    cert_hash = _uuid4_hex(f"'cert:{r.seed}:' || c.user_id || ':' || c.course_id")
    again_hash = _uuid4_hex(f"'cert-again:{r.seed}:' || c.user_id || ':' || c.course_id")
    program_hash = _uuid4_hex(f"'program-cert:{r.seed}:' || user_id || ':' || program_id")
    return [
        # One row per (learner, course) who passed a run and sat the exam, with the outcome
        # of the first and (for some) second attempt.
        f"""
        CREATE TEMP TABLE demo_exam AS
        SELECT x.*,
               {r.u("exam1", *key)} < 0.25 + 0.2 * x.diligence AS first_passed,
               {r.u("score1", *key)} AS v_score1,
               {r.u("retake", *key)} AS v_retake,
               {r.u("exam2", *key)} < 0.45 AS second_passed,
               {r.u("score2", *key)} AS v_score2,
               {r.i("exam_run", 2, *key)} AS exam_run_pick,
               {r.u("cert_missing", *key)} < 0.1 AS cert_missing,
               {r.u("hash_format", *key)} < 0.5 AS md5_hash,
               {r.u("duplicate", *key)} < 0.015 AS duplicated
          FROM (
            SELECT user_id, course_id, max(diligence) AS diligence,
                   bool_or(verified) AS paid, max(graded_on) AS graded_on
              FROM demo_attempt
             WHERE graded AND passed AND NOT pending AND NOT null_grade AND has_exam
             GROUP BY user_id, course_id
          ) x
         WHERE {r.u("sits_exam", *key)} < 0.05 + 0.75 * x.diligence ^ 2
        """,
        """
        INSERT INTO grades_proctoredexamgrade (
            id, created_on, updated_on, passing_score, score, grade, client_authorization_id,
            row_data, passed, percentage_grade, course_id, user_id, exam_date, exam_run_id)
        SELECT row_number() OVER (ORDER BY a.user_id, a.course_id, a.attempt),
               e.date_last_eligible + interval '25 days', e.date_last_eligible + interval '25 days',
               60.0, a.score, CASE WHEN a.passed THEN 'pass' ELSE 'fail' END,
               'MM-' || a.user_id || '-' || a.course_id || '-' || a.attempt,
               jsonb_build_object('Candidate ID', a.user_id, 'Exam Series Code',
                                  e.exam_series_code, 'Score', a.score,
                                  'Grade', CASE WHEN a.passed THEN 'pass' ELSE 'fail' END),
               a.passed, a.score / 100, a.course_id, a.user_id,
               e.date_first_eligible + interval '1 day' * ((a.user_id + a.attempt) % 15)
                   + interval '14 hours',
               e.id
          FROM (
            SELECT user_id, course_id, 1 AS attempt, exam_run_pick AS exam_run_index,
                   first_passed AS passed,
                   round(CASE WHEN first_passed THEN 60 + 40 * v_score1
                              ELSE 20 + 39.9 * v_score1 END::numeric, 1)::float8 AS score
              FROM demo_exam
            UNION ALL
            SELECT user_id, course_id, 2, 2, second_passed,
                   round(CASE WHEN second_passed THEN 60 + 40 * v_score2
                              ELSE 20 + 39.9 * v_score2 END::numeric, 1)::float8
              FROM demo_exam
             WHERE (NOT first_passed AND v_retake < 0.75) OR (first_passed AND v_retake < 0.03)
          ) a
          JOIN LATERAL (
            SELECT * FROM exams_examrun er WHERE er.course_id = a.course_id
             ORDER BY er.id OFFSET a.exam_run_index LIMIT 1
          ) e ON true
        """,
        # A certificate needs a paid passed run and a passed exam; a few were never issued.
        """
        CREATE TEMP TABLE demo_certified AS
        SELECT x.user_id, x.course_id, x.md5_hash, x.duplicated,
               greatest(x.graded_on, e.date_grades_available)
                   + interval '1 day' * (10 + (x.user_id + x.course_id) % 30) AS issued
          FROM demo_exam x
          JOIN LATERAL (
            SELECT er.date_grades_available FROM exams_examrun er
             WHERE er.course_id = x.course_id
             ORDER BY er.id OFFSET x.exam_run_pick LIMIT 1
          ) e ON true
         WHERE x.paid AND NOT x.cert_missing
           AND (x.first_passed OR (x.second_passed AND x.v_retake < 0.75))
        """,
        # The second certified learner-course of every 500 got a duplicate, at any scale.
        """
        UPDATE demo_certified c SET duplicated = true
          FROM (SELECT user_id, course_id,
                       row_number() OVER (ORDER BY user_id, course_id) AS rank
                  FROM demo_certified) n
         WHERE n.user_id = c.user_id AND n.course_id = c.course_id AND n.rank % 500 = 2
        """,
        # Learners who unenrolled after earning a certificate: MicroMasters deleted their
        # cached enrollments (step 013 recreates them). At least one per course and group.
        """
        UPDATE demo_attempt a SET dropped = true
          FROM (SELECT c.user_id, c.course_id,
                       row_number() OVER (PARTITION BY u.linked, c.course_id
                                          ORDER BY c.user_id) AS rank
                  FROM demo_certified c JOIN demo_user u ON u.id = c.user_id) n
         WHERE n.rank % 12 = 1 AND a.user_id = n.user_id AND a.course_id = n.course_id
        """,
        # Older certificates have the md5 hash of "user|course", newer ones a uuid4 hex; a
        # couple are damaged (not 32 hex digits) and some learners got a second certificate.
        f"""
        INSERT INTO grades_micromasterscoursecertificate (id, created_on, updated_on, hash,
                                                          course_id, user_id)
        SELECT id, created_on, created_on,
               CASE WHEN id % 20011 = 3 THEN left(hash, 31)
                    WHEN id % 20011 = 11 THEN 'z' || right(hash, 31)
                    ELSE hash END,
               course_id, user_id
          FROM (
            SELECT row_number() OVER (ORDER BY user_id, course_id, copy) AS id, *
              FROM (
                SELECT c.user_id, c.course_id, 1 AS copy, c.issued AS created_on,
                       CASE WHEN c.md5_hash THEN md5(c.user_id || '|' || c.course_id)
                            ELSE {cert_hash}
                       END AS hash
                  FROM demo_certified c
                UNION ALL
                SELECT c.user_id, c.course_id, 2,
                       c.issued + interval '1 day' * (30 + c.user_id % 500),
                       {again_hash}
                  FROM demo_certified c WHERE c.duplicated
              ) copies
          ) numbered
        """,
        # Learners with certificates in at least two courses of a program; 1 in 20011 damaged.
        f"""
        INSERT INTO grades_micromastersprogramcertificate (id, created_on, updated_on, hash,
                                                           program_id, user_id)
        SELECT id, created_on, created_on,
               CASE WHEN id % 20011 = 7 THEN left(hash, 30) ELSE hash END,
               program_id, user_id
          FROM (
            SELECT row_number() OVER (ORDER BY user_id, program_id) AS id, user_id, program_id,
                   issued + interval '45 days' AS created_on,
                   CASE WHEN {r.u("program_hash", "user_id", "program_id")} < 0.5
                        THEN md5(user_id || '|' || program_id)
                        ELSE {program_hash}
                   END AS hash
              FROM (
                SELECT cc.user_id, c.program_id, max(cc.created_on) AS issued
                  FROM grades_micromasterscoursecertificate cc
                  JOIN courses_course c ON c.id = cc.course_id
                 GROUP BY cc.user_id, c.program_id
                HAVING count(DISTINCT cc.course_id) >= 2
              ) p
             WHERE {r.u("program_cert", "user_id", "program_id")} < 0.9
          ) numbered
        """,
        f"""
        INSERT INTO dashboard_programenrollment (id, program_id, user_id, share_hash)
        SELECT row_number() OVER (ORDER BY user_id, program_id), program_id, user_id,
               CASE WHEN {r.u("share", "user_id", "program_id")} < 0.05
                    THEN {_uuid4_dashed(f"'share:{r.seed}:' || user_id || ':' || program_id")}
               END
          FROM (
            SELECT id AS user_id, program_id FROM demo_user
             WHERE {r.u("program_enrolled", "id")} < 0.95
            UNION
            SELECT id, 1 + (program_id + {r.i("second_program_pick", 2, "id")}) % 3 FROM demo_user
             WHERE {r.u("second_program", "id")} < 0.08
          ) p
        """,
    ]


def _uuid4_hex(text_sql: str) -> str:
    """A uuid4-shaped 32-hex string derived from some text (version 4, RFC 4122 variant)."""
    digest = f"md5({text_sql})"
    return (
        f"(substr({digest}, 1, 12) || '4' || substr({digest}, 14, 3)"
        f" || substr('89ab', 1 + ascii(substr({digest}, 17, 1)) % 4, 1)"
        f" || substr({digest}, 18, 15))"
    )


def _uuid4_dashed(text_sql: str) -> str:
    """The same as `_uuid4_hex`, in the 36-character form with dashes."""
    return f"({_uuid4_hex(text_sql)})::uuid::text"


# --- financial aid ---------------------------------------------------------------------------

STATUSES_LATEST = (
    ("approved", 0.34),
    ("auto-approved", 0.28),
    ("pending-manual-approval", 0.08),
    ("docs-sent", 0.06),
    ("pending-docs", 0.07),
    ("created", 0.06),
    ("skipped", 0.06),
    ("reset", 0.05),
)
STATUSES_EARLIER = (("reset", 0.5), ("skipped", 0.25), ("approved", 0.1), ("pending-docs", 0.15))
CURRENCIES = (("USD", 1.0), ("INR", 83.0), ("EUR", 0.92), ("BRL", 5.0), ("NGN", 900.0))


def _financial_aid_sql(r: Rand) -> list[str]:
    """Aid requests: one per requesting learner, plus earlier requests for some."""
    key = ("f.user_id", "f.n")
    codes = sql_array(tuple(code for code, _ in CURRENCIES))
    rates = "ARRAY[" + ", ".join(str(rate) for _, rate in CURRENCIES) + "]::float8[]"
    pick = f"1 + {r.i('currency', len(CURRENCIES), *key)}"
    return [
        f"""
        INSERT INTO financialaid_financialaid (
            id, status, income_usd, original_income, original_currency, country_of_income,
            date_exchange_rate, user_id, tier_program_id, created_on, updated_on,
            date_documents_sent, justification, country_of_residence)
        SELECT row_number() OVER (ORDER BY user_id, n DESC), status, income_usd,
               round((income_usd * ({rates})[currency_index])::numeric, 2)::float8,
               currency, country, created_on, user_id, tier_program_id, created_on,
               created_on + interval '1 day' * (1 + (user_id + n) % 40),
               CASE WHEN status IN ('docs-sent', 'approved', 'pending-manual-approval')
                    THEN (created_on + interval '5 days')::date END,
               CASE WHEN status IN ('approved', 'reset') THEN 'Documents reviewed' END,
               country
          FROM (
            SELECT f.*,
                   CASE WHEN f.n = 0 AND f.rank <= {len(STATUSES_LATEST)}
                        -- The first requesters cover every status, at any scale.
                        THEN ({sql_array(tuple(status for status, _ in STATUSES_LATEST))})[f.rank]
                        WHEN f.n = 0 THEN {r.choose("f.v_status", STATUSES_LATEST)}
                        ELSE {r.choose("f.v_status", STATUSES_EARLIER)} END AS status,
                   ({codes})[{pick}] AS currency,
                   {pick} AS currency_index,
                   coalesce(
                       -- Earlier requests were often made under the 2016 tiers.
                       CASE WHEN f.n > 0 AND f.v_old_tier < 0.5 OR f.v_old_tier < 0.03 THEN
                           (SELECT tp.id FROM financialaid_tierprogram tp
                             WHERE tp.program_id = f.program_id AND NOT tp.current
                               AND tp.income_threshold <= f.income_usd
                             ORDER BY tp.income_threshold DESC LIMIT 1) END,
                       (SELECT tp.id FROM financialaid_tierprogram tp
                         WHERE tp.program_id = f.program_id AND tp.current
                           AND tp.income_threshold <= f.income_usd
                         ORDER BY tp.income_threshold DESC LIMIT 1)) AS tier_program_id
              FROM (
                SELECT u.id AS user_id, n, u.program_id, u.country,
                       round((90000 * {r.u("income", "u.id")} ^ 2)::numeric, 0)::float8
                           AS income_usd,
                       timestamptz '2017-01-15 10:00+00'
                           + {r.u("asked", "u.id")} * interval '1800 days'
                           - n * interval '200 days' AS created_on,
                       {r.u("aid_status", "u.id", "n")} AS v_status,
                       {r.u("old_tier", "u.id", "n")} AS v_old_tier,
                       row_number() OVER (PARTITION BY n ORDER BY u.id) AS rank
                  FROM demo_user u
                  CROSS JOIN generate_series(0, 2) AS n
                 WHERE {r.u("asks_aid", "u.id")} < 0.12
                   AND (n = 0 OR (n = 1 AND {r.u("aid_again", "u.id")} < 0.2)
                        OR (n = 2 AND {r.u("aid_again", "u.id")} < 0.05))
              ) f
          ) g
        """,
    ]


# --- orders ------------------------------------------------------------------------------------

ORDER_STATUSES = (
    ("fulfilled", 0.82),
    ("refunded", 0.05),
    ("partially_refunded", 0.02),
    ("created", 0.07),
    ("failed", 0.04),
)


# Orders 1-8 of every 500: each status, then a fulfilled order without a reference number,
# one whose payment CyberSource notified twice, and one whose receipt lacks a transaction id.
FORCED_ORDER_STATUSES = (
    "fulfilled",
    "refunded",
    "partially_refunded",
    "created",
    "failed",
    "fulfilled",
    "fulfilled",
    "fulfilled",
)


def _orders_sql(r: Rand) -> list[str]:
    """Orders for some paid attempts, their lines (a few with two) and receipts."""
    key = ("a.user_id", "a.k")
    transaction_id = (
        "'6' || lpad((abs(hashint8extended(o.id * 4 + {n}, {seed})) % 1000000000000000000)::text,"
        " 21, '0')"
    )
    return [
        f"""
        CREATE TEMP TABLE demo_order AS
        SELECT row_number() OVER (ORDER BY user_id, k)::int AS id, o.*,
               {r.choose("o.v_status", ORDER_STATUSES)} AS status
          FROM (
            SELECT a.user_id, a.k, a.course_id, a.program_id, a.pos, a.n_courses, a.run_idx,
                   a.backend, run.key, run.title, u.first_name, u.last_name, a.linked,
                   -- What the learner paid: the program's per-course price less their aid.
                   a.price * (ARRAY[1.0, 0.75, 0.5, 0.25])[1 + {r.i("price_tier", 4, "a.user_id")}]
                       AS amount,
                   a.start_date - interval '1 day' * (1 + {r.i("paid_days", 20, *key)})
                       + interval '1 minute' * {r.i("paid_minute", 1440, *key)} AS created_at,
                   {r.u("order_status", *key)} AS v_status,
                   {r.u("two_lines", *key)} < 0.05 AS two_lines,
                   {r.u("no_reference", *key)} < 0.002 AS no_reference,
                   {r.u("no_transaction", *key)} < 0.01 AS no_transaction,
                   {r.u("duplicate_receipt", *key)} < 0.005 AS duplicate_receipt
              FROM demo_attempt a
              JOIN demo_user u ON u.id = a.user_id
              JOIN demo_run run ON run.id = a.run_id
             WHERE a.verified
               -- MicroMasters sold most seats for its MITx Online runs.
               AND {r.u("ordered", *key)}
                   < CASE WHEN a.backend = 'mitxonline' THEN 0.22 ELSE 0.045 END
          ) o
        """,
        "ALTER TABLE demo_order ADD PRIMARY KEY (id)",
        # In every 500 orders, one of each status and of each receipt anomaly, so that even
        # a small demo shows every case the import must handle.
        f"""
        UPDATE demo_order
           SET status = ({sql_array(FORCED_ORDER_STATUSES)})[id % 500],
               no_reference = id % 500 = 6,
               duplicate_receipt = id % 500 = 7,
               no_transaction = id % 500 = 8
         WHERE id % 500 BETWEEN 1 AND {len(FORCED_ORDER_STATUSES)}
        """,
        """
        CREATE TEMP TABLE demo_order_line AS
        SELECT row_number() OVER (ORDER BY order_id, line)::int AS id, *
          FROM (
            SELECT o.id AS order_id, 1 AS line, o.key, o.title, o.amount AS price, o.created_at
              FROM demo_order o
            UNION ALL
            -- The second seat: the program's next course, in a run of the same backend.
            SELECT o.id, 2, run.key, run.title, o.amount, o.created_at
              FROM demo_order o
              JOIN demo_course c ON c.program_id = o.program_id
                                AND c.pos = (o.pos + 1) % o.n_courses
              JOIN demo_run run ON run.course_id = c.id
                               AND run.idx = CASE WHEN o.backend = 'mitxonline'
                                                  THEN c.n_edx + o.run_idx % (c.n_all - c.n_edx)
                                                  ELSE o.run_idx % c.n_edx END
             WHERE o.two_lines
          ) l
        """,
        """
        INSERT INTO ecommerce_order (id, status, created_at, modified_at, total_price_paid,
                                     user_id, reference_number)
        SELECT o.id, o.status, o.created_at,
               o.created_at + CASE WHEN o.status IN ('refunded', 'partially_refunded')
                                   THEN interval '12 days' ELSE interval '2 minutes' END,
               t.total,
               o.user_id,
               CASE WHEN NOT o.no_reference THEN 'MM-prod-' || o.id END
          FROM demo_order o
          JOIN (SELECT order_id, sum(price) AS total FROM demo_order_line GROUP BY order_id) t
            ON t.order_id = o.id
        """,
        """
        INSERT INTO ecommerce_line (id, course_key, price, description, created_at, modified_at,
                                    order_id)
        SELECT id, key, price, 'Seat for ' || title, created_at, created_at, order_id
          FROM demo_order_line
        """,
        f"""
        INSERT INTO ecommerce_receipt (id, data, created_at, modified_at, order_id)
        SELECT row_number() OVER (ORDER BY order_id, n), data, at, at, order_id
          FROM (
            SELECT o.id AS order_id, r.n, o.created_at + r.n * interval '12 days' AS at,
                   jsonb_strip_nulls(jsonb_build_object(
                       'req_reference_number', 'MM-prod-' || o.id,
                       'transaction_id', CASE WHEN NOT (o.no_transaction AND r.n = 0)
                           THEN {transaction_id.format(n="(r.n = 1)::int", seed=r.seed)} END,
                       'decision', CASE WHEN o.status = 'failed' THEN 'DECLINE' ELSE 'ACCEPT' END,
                       'reason_code', CASE WHEN o.status = 'failed' THEN '481' ELSE '100' END,
                       'req_transaction_type', CASE WHEN r.n = 1 THEN 'refund' ELSE 'sale' END,
                       'req_amount', to_char(o.amount, 'FM999990.00'),
                       'req_currency', 'USD',
                       'req_bill_to_forename', o.first_name,
                       'req_bill_to_surname', o.last_name,
                       'req_card_type', '001',
                       'req_card_number', 'xxxxxxxxxxxx1111',
                       'signed_date_time', {iso("o.created_at + r.n * interval '12 days'")}))
                       AS data
              FROM demo_order o
              JOIN LATERAL (
                SELECT 0 AS n
                UNION ALL
                -- A refund receipt, or CyberSource notifying the same payment twice.
                SELECT 1 WHERE o.status IN ('refunded', 'partially_refunded')
                UNION ALL
                SELECT 2 WHERE o.duplicate_receipt AND o.status = 'fulfilled'
              ) r ON true
             WHERE o.status <> 'created'
          ) receipts
        """,
    ]


# --- the whole build ---------------------------------------------------------------------------


def statements(users: int, seed: int) -> list[tuple[str, str]]:
    """Every generating statement after the catalogue, labelled by what it writes."""
    r = Rand(seed)
    groups = [
        ("scratch catalogue", _work_catalog_sql()),
        ("learners", _users_sql(r, users)),
        ("attempts and final grades", _attempts_sql(r)),
        ("exams and certificates", _exams_sql(r)),
        ("cached enrollments", _enrollments_sql()),
        ("financial aid", _financial_aid_sql(r)),
        ("orders", _orders_sql(r)),
    ]
    return [(label, statement) for label, group in groups for statement in group]


def build_source(
    cursor,
    schema: str = "public",
    users: int = 2000,
    seed: int = 1,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, int]:
    """(Re)create the MicroMasters tables in `schema` and fill them; returns rows per table.

    Runs in the caller's transaction. Every table of schema.sql is recreated empty first, so
    a rebuild never mixes two scales or seeds. `progress(label, seconds)` is told how long
    each group of statements took, as soon as it is done, so a long build shows its phases.
    """
    if users < 1:
        raise ValueError("at least one user")
    Rand(seed)  # validates the seed before anything is dropped
    tune_session(cursor)
    create_source_schema(cursor, schema, drop=True)
    timings: dict[str, float] = {}

    def done(label: str) -> None:
        if progress:
            progress(label, timings[label])

    with search_path(cursor, schema):
        for table in WORK_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        with constraints_deferred(cursor, schema):
            started = time.monotonic()
            _insert_catalog(cursor)
            timings["catalogue"] = time.monotonic() - started
            done("catalogue")
            work = statements(users, seed)
            for index, (label, statement) in enumerate(work):
                started = time.monotonic()
                cursor.execute(statement)
                timings[label] = timings.get(label, 0.0) + time.monotonic() - started
                if index + 1 == len(work) or work[index + 1][0] != label:
                    done(label)
            started = time.monotonic()
        timings["indexes and foreign keys"] = time.monotonic() - started
        done("indexes and foreign keys")
        started = time.monotonic()
        for table in TABLES:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'),"
                f" coalesce((SELECT max(id) FROM {quote_ident(table)}), 0) + 1, false)",
                [f"{quote_ident(schema)}.{quote_ident(table)}"],
            )
            cursor.execute(f"ANALYZE {quote_ident(table)}")
        for table in WORK_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        timings["sequences and statistics"] = time.monotonic() - started
        done("sequences and statistics")
        counts = count_rows(cursor)
    return counts


def count_rows(cursor) -> dict[str, int]:
    """Rows in every source table (of the current search_path), in schema.sql order."""
    union = " UNION ALL ".join(
        f"SELECT {sql_literal(table)}, count(*) FROM {quote_ident(table)}" for table in TABLES
    )
    cursor.execute(union)
    counts = dict(cursor.fetchall())
    return {table: int(counts[table]) for table in TABLES}
