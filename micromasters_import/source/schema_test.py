import re

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction

from micromasters_import.source import factories as f
from micromasters_import.source.tables import (
    SOURCE_TABLES,
    TABLES,
    column_names,
    create_source_schema,
    empty_source_tables,
)

# Written by hand from a catalog reading of MicroMasters (not from schema.sql), in physical order.
N, NN = True, False
EXPECTED_COLUMNS = {
    "auth_user": [
        ("id", "integer", NN),
        ("password", "varchar(128)", NN),
        ("last_login", "timestamptz", N),
        ("is_superuser", "boolean", NN),
        ("username", "varchar(150)", NN),
        ("first_name", "varchar(150)", NN),
        ("last_name", "varchar(150)", NN),
        ("email", "varchar(254)", NN),
        ("is_staff", "boolean", NN),
        ("is_active", "boolean", NN),
        ("date_joined", "timestamptz", NN),
    ],
    "social_auth_usersocialauth": [
        ("id", "bigint", NN),
        ("provider", "varchar(32)", NN),
        ("uid", "varchar(255)", NN),
        ("user_id", "integer", NN),
        ("created", "timestamptz", NN),
        ("modified", "timestamptz", NN),
        ("extra_data", "jsonb", NN),
    ],
    "profiles_profile": [
        ("id", "integer", NN),
        ("user_id", "integer", NN),
        ("first_name", "text", N),
        ("last_name", "text", N),
        ("preferred_name", "text", N),
        ("romanized_first_name", "varchar(30)", N),
        ("romanized_last_name", "varchar(50)", N),
        ("account_privacy", "text", NN),
        ("email_optin", "boolean", NN),
        ("filled_out", "boolean", NN),
        ("agreed_to_terms_of_service", "boolean", NN),
        ("verified_micromaster_user", "boolean", NN),
        ("fake_user", "boolean", NN),
        ("country", "text", N),
        ("birth_country", "text", N),
        ("nationality", "text", N),
        ("state_or_territory", "varchar(255)", N),
        ("city", "text", N),
        ("address", "varchar(100)", N),
        ("postal_code", "varchar(16)", N),
        ("phone_number", "varchar(50)", N),
        ("date_of_birth", "date", N),
        ("gender", "varchar(6)", N),
        ("preferred_language", "text", N),
        ("edx_level_of_education", "text", N),
        ("edx_name", "text", N),
        ("edx_bio", "text", N),
        ("edx_goals", "text", N),
        ("edx_mailing_address", "text", N),
        ("edx_employer", "varchar(255)", N),
        ("edx_job_title", "varchar(255)", N),
        ("edx_requires_parental_consent", "boolean", N),
        ("edx_language_proficiencies", "jsonb", N),
        ("about_me", "text", N),
        ("image", "varchar(100)", N),
        ("image_small", "varchar(100)", N),
        ("image_medium", "varchar(100)", N),
        ("student_id", "integer", N),
        ("mail_id", "uuid", NN),
        ("date_joined_micromasters", "timestamptz", N),
        ("updated_on", "timestamptz", N),
    ],
    "courses_program": [
        ("id", "integer", NN),
        ("title", "varchar(255)", NN),
        ("live", "boolean", NN),
        ("description", "text", N),
        ("financial_aid_availability", "boolean", NN),
        ("ga_tracking_id", "varchar(255)", NN),
        ("price", "numeric(20,2)", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
        ("num_required_courses", "smallint", NN),
        ("exam_attempts_first_date", "timestamptz", N),
        ("exam_attempts_second_date", "timestamptz", N),
    ],
    "courses_course": [
        ("id", "integer", NN),
        ("title", "varchar(255)", NN),
        ("thumbnail", "varchar(100)", N),
        ("description", "text", N),
        ("prerequisites", "text", N),
        ("program_id", "integer", NN),
        ("position_in_program", "smallint", NN),
        ("contact_email", "varchar(254)", N),
        ("should_display_progress", "boolean", NN),
        ("course_number", "text", N),
        ("edx_key", "varchar(50)", N),
    ],
    "courses_courserun": [
        ("id", "integer", NN),
        ("title", "varchar(255)", NN),
        ("edx_course_key", "varchar(255)", N),
        ("enrollment_start", "timestamptz", N),
        ("start_date", "timestamptz", N),
        ("enrollment_url", "varchar(200)", N),
        ("prerequisites", "text", N),
        ("course_id", "integer", N),
        ("fuzzy_start_date", "varchar(255)", N),
        ("end_date", "timestamptz", N),
        ("enrollment_end", "timestamptz", N),
        ("fuzzy_enrollment_start_date", "varchar(255)", N),
        ("upgrade_deadline", "timestamptz", N),
        ("freeze_grade_date", "timestamptz", N),
        ("courseware_backend", "varchar(32)", NN),
        ("is_discontinued", "boolean", NN),
    ],
    **{
        table: [
            ("id", "integer", NN),
            ("data", "jsonb", NN),
            ("course_run_id", "integer", NN),
            ("user_id", "integer", NN),
        ]
        for table in (
            "dashboard_cachedenrollment",
            "dashboard_cachedcertificate",
            "dashboard_cachedcurrentgrade",
        )
    },
    "dashboard_programenrollment": [
        ("id", "integer", NN),
        ("program_id", "integer", NN),
        ("user_id", "integer", NN),
        ("share_hash", "varchar(36)", N),
    ],
    "grades_finalgrade": [
        ("id", "integer", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
        ("grade", "float8", N),
        ("passed", "boolean", NN),
        ("status", "varchar(30)", NN),
        ("course_run_id", "integer", NN),
        ("user_id", "integer", NN),
        ("course_run_paid_on_edx", "boolean", NN),
    ],
    "grades_proctoredexamgrade": [
        ("id", "integer", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
        ("passing_score", "float8", NN),
        ("score", "float8", NN),
        ("grade", "text", NN),
        ("client_authorization_id", "text", N),
        ("row_data", "jsonb", NN),
        ("passed", "boolean", NN),
        ("percentage_grade", "float8", NN),
        ("course_id", "integer", NN),
        ("user_id", "integer", NN),
        ("exam_date", "timestamptz", NN),
        ("exam_run_id", "integer", N),
    ],
    "grades_micromasterscoursecertificate": [
        ("id", "integer", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
        ("hash", "varchar(32)", NN),
        ("course_id", "integer", N),
        ("user_id", "integer", N),
    ],
    "grades_micromastersprogramcertificate": [
        ("id", "integer", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
        ("hash", "varchar(32)", NN),
        ("program_id", "integer", NN),
        ("user_id", "integer", NN),
    ],
    "exams_examrun": [
        ("id", "integer", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
        ("exam_series_code", "varchar(20)", NN),
        ("date_first_schedulable", "timestamptz", NN),
        ("date_last_schedulable", "timestamptz", NN),
        ("date_first_eligible", "date", NN),
        ("date_last_eligible", "date", NN),
        ("authorized", "boolean", NN),
        ("course_id", "integer", NN),
        ("date_grades_available", "timestamptz", NN),
        ("description", "text", N),
        ("semester", "varchar(50)", N),
        ("passing_score", "float8", NN),
        ("edx_exam_course_key", "varchar(255)", N),
    ],
    "financialaid_tier": [
        ("id", "integer", NN),
        ("name", "text", NN),
        ("description", "text", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
    ],
    "financialaid_tierprogram": [
        ("id", "integer", NN),
        ("discount_amount", "integer", NN),
        ("current", "boolean", NN),
        ("program_id", "integer", NN),
        ("tier_id", "integer", NN),
        ("income_threshold", "integer", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
    ],
    "financialaid_financialaid": [
        ("id", "integer", NN),
        ("status", "varchar(30)", NN),
        ("income_usd", "float8", N),
        ("original_income", "float8", N),
        ("original_currency", "varchar(10)", N),
        ("country_of_income", "varchar(100)", N),
        ("date_exchange_rate", "timestamptz", N),
        ("user_id", "integer", NN),
        ("tier_program_id", "integer", NN),
        ("created_on", "timestamptz", NN),
        ("updated_on", "timestamptz", NN),
        ("date_documents_sent", "date", N),
        ("justification", "text", N),
        ("country_of_residence", "text", NN),
    ],
    "ecommerce_order": [
        ("id", "integer", NN),
        ("status", "varchar(30)", NN),
        ("created_at", "timestamptz", NN),
        ("modified_at", "timestamptz", NN),
        ("total_price_paid", "numeric(20,2)", NN),
        ("user_id", "integer", NN),
        ("reference_number", "varchar(255)", N),
    ],
    "ecommerce_line": [
        ("id", "integer", NN),
        ("course_key", "text", NN),
        ("price", "numeric(20,2)", NN),
        ("description", "text", N),
        ("created_at", "timestamptz", NN),
        ("modified_at", "timestamptz", NN),
        ("order_id", "integer", NN),
    ],
    "ecommerce_receipt": [
        ("id", "integer", NN),
        ("data", "jsonb", NN),
        ("created_at", "timestamptz", NN),
        ("modified_at", "timestamptz", NN),
        ("order_id", "integer", N),
    ],
}

# Every unique key the reference lists (single and multi-column), besides the primary keys.
EXPECTED_UNIQUES = {
    ("auth_user", ("username",)),
    ("social_auth_usersocialauth", ("provider", "uid")),
    ("profiles_profile", ("user_id",)),
    ("profiles_profile", ("student_id",)),
    ("profiles_profile", ("mail_id",)),
    ("courses_course", ("program_id", "position_in_program")),
    ("courses_courserun", ("edx_course_key",)),
    ("dashboard_cachedenrollment", ("user_id", "course_run_id")),
    ("dashboard_cachedcertificate", ("user_id", "course_run_id")),
    ("dashboard_cachedcurrentgrade", ("user_id", "course_run_id")),
    ("dashboard_programenrollment", ("share_hash",)),
    ("dashboard_programenrollment", ("user_id", "program_id")),
    ("grades_finalgrade", ("user_id", "course_run_id")),
    ("grades_micromasterscoursecertificate", ("hash",)),
    ("grades_micromastersprogramcertificate", ("hash",)),
    ("grades_micromastersprogramcertificate", ("user_id", "program_id")),
    ("exams_examrun", ("edx_exam_course_key",)),
    ("financialaid_tierprogram", ("program_id", "tier_id")),
    ("ecommerce_order", ("reference_number",)),
}

EXPECTED_FOREIGN_KEYS = {
    ("social_auth_usersocialauth", "user_id", "auth_user"),
    ("profiles_profile", "user_id", "auth_user"),
    ("courses_course", "program_id", "courses_program"),
    ("courses_courserun", "course_id", "courses_course"),
    ("dashboard_cachedenrollment", "course_run_id", "courses_courserun"),
    ("dashboard_cachedenrollment", "user_id", "auth_user"),
    ("dashboard_cachedcertificate", "course_run_id", "courses_courserun"),
    ("dashboard_cachedcertificate", "user_id", "auth_user"),
    ("dashboard_cachedcurrentgrade", "course_run_id", "courses_courserun"),
    ("dashboard_cachedcurrentgrade", "user_id", "auth_user"),
    ("dashboard_programenrollment", "program_id", "courses_program"),
    ("dashboard_programenrollment", "user_id", "auth_user"),
    ("grades_finalgrade", "course_run_id", "courses_courserun"),
    ("grades_finalgrade", "user_id", "auth_user"),
    ("grades_proctoredexamgrade", "course_id", "courses_course"),
    ("grades_proctoredexamgrade", "user_id", "auth_user"),
    ("grades_proctoredexamgrade", "exam_run_id", "exams_examrun"),
    ("grades_micromasterscoursecertificate", "course_id", "courses_course"),
    ("grades_micromasterscoursecertificate", "user_id", "auth_user"),
    ("grades_micromastersprogramcertificate", "program_id", "courses_program"),
    ("grades_micromastersprogramcertificate", "user_id", "auth_user"),
    ("exams_examrun", "course_id", "courses_course"),
    ("financialaid_tierprogram", "program_id", "courses_program"),
    ("financialaid_tierprogram", "tier_id", "financialaid_tier"),
    ("financialaid_financialaid", "user_id", "auth_user"),
    ("financialaid_financialaid", "tier_program_id", "financialaid_tierprogram"),
    ("ecommerce_order", "user_id", "auth_user"),
    ("ecommerce_line", "order_id", "ecommerce_order"),
    ("ecommerce_receipt", "order_id", "ecommerce_order"),
}

PG_TYPE_NAMES = {"timestamptz": "timestamp with time zone", "float8": "double precision"}


def pg_type(short):
    """The format_type() spelling of the reference's shorthand types."""
    return PG_TYPE_NAMES.get(short, re.sub(r"^varchar\(", "character varying(", short))


def fetch(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def db_columns(schema, table):
    return fetch(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
          FROM pg_attribute a
         WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
        """,
        [f"{schema}.{table}"],
    )


def select_row(table, row_id):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {f.SCHEMA}.{table} WHERE id = %s", [row_id])
        names = [d[0] for d in cursor.description]
        return f.decode_json(table, dict(zip(names, cursor.fetchone(), strict=True)))


def raises_integrity_error(callable_):
    """Run in a savepoint, checking deferred constraints, and tell whether it was refused."""
    try:
        with transaction.atomic():
            callable_()
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except IntegrityError:
        return True
    return False


def test_source_tables_are_the_nineteen_the_import_reads():
    assert len(SOURCE_TABLES) == 19
    assert set(SOURCE_TABLES) <= set(TABLES)
    assert set(TABLES) - set(SOURCE_TABLES) == {
        "dashboard_cachedcertificate",
        "dashboard_cachedcurrentgrade",
    }
    assert set(EXPECTED_COLUMNS) == set(TABLES)


@pytest.mark.parametrize("table", sorted(EXPECTED_COLUMNS))
def test_columns_match_the_reference(mm, table):
    expected = [(name, pg_type(type_), null) for name, type_, null in EXPECTED_COLUMNS[table]]
    assert db_columns(mm, table) == expected
    assert column_names(table) == tuple(name for name, _, _ in EXPECTED_COLUMNS[table])
    assert [(c.name, pg_type(c.type), c.nullable) for c in TABLES[table]] == expected


def test_unique_keys_are_exactly_the_reference_ones(mm):
    rows = fetch(
        """
        SELECT c.relname, array_agg(a.attname ORDER BY k.ord)
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE n.nspname = %s AND i.indisunique AND NOT i.indisprimary
         GROUP BY i.indexrelid, c.relname
        """,
        [mm],
    )
    assert {(table, tuple(columns)) for table, columns in rows} == EXPECTED_UNIQUES


def test_primary_keys_are_identity_and_there_are_no_other_defaults(mm):
    rows = fetch(
        """
        SELECT c.relname, a.attname, a.attidentity, a.atthasdef
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND (a.attidentity <> '' OR a.atthasdef)
        """,
        [mm],
    )
    assert sorted(rows) == sorted((table, "id", "d", False) for table in TABLES)
    primary_keys = fetch(
        """
        SELECT c.conrelid::regclass::text, c.conkey
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = %s AND c.contype = 'p'
        """,
        [mm],
    )
    assert sorted(primary_keys) == sorted((f"{mm}.{table}", [1]) for table in TABLES)


def test_foreign_keys_are_deferred_without_delete_actions_and_indexed(mm):
    rows = fetch(
        """
        SELECT c.relname, a.attname, r.relname, k.condeferrable, k.condeferred,
               k.confdeltype, k.confupdtype,
               EXISTS (SELECT 1 FROM pg_index i
                        WHERE i.indrelid = k.conrelid AND i.indkey[0] = k.conkey[1])
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_class r ON r.oid = k.confrelid
          JOIN pg_namespace n ON n.oid = k.connamespace
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
         WHERE n.nspname = %s AND k.contype = 'f'
        """,
        [mm],
    )
    assert {row[:3] for row in rows} == EXPECTED_FOREIGN_KEYS
    assert len(rows) == len(EXPECTED_FOREIGN_KEYS)
    assert {row[3:] for row in rows} == {(True, True, "a", "a", True)}


def test_check_constraints(mm):
    rows = fetch(
        """
        SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid)
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = %s AND c.contype = 'c'
        """,
        [mm],
    )
    assert sorted(rows) == [
        (f"{mm}.courses_course", "CHECK ((position_in_program >= 0))"),
        (f"{mm}.courses_program", "CHECK ((num_required_courses >= 0))"),
        (f"{mm}.social_auth_usersocialauth", "CHECK (((uid)::text <> ''::text))"),
    ]
    assert fetch(
        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'c'",
        [f"{mm}.social_auth_usersocialauth"],
    ) == [("user_social_auth_uid_required",)]
    assert raises_integrity_error(lambda: f.MMSocialAuthFactory(uid=""))
    assert raises_integrity_error(lambda: f.MMCourseFactory(position_in_program=-1))
    assert raises_integrity_error(lambda: f.MMProgramFactory(num_required_courses=-1))


def test_absent_unique_keys_allow_the_duplicates_production_has(mm):
    user, course = f.MMUserFactory(), f.MMCourseFactory()
    f.MMCourseCertificateFactory(user=user, course=course)
    f.MMCourseCertificateFactory(user=user, course=course)
    exam_run = f.MMExamRunFactory(course=course)
    f.MMProctoredExamGradeFactory(user=user, course=course, exam_run=exam_run)
    f.MMProctoredExamGradeFactory(user=user, course=course, exam_run=exam_run)
    tier_program = f.MMTierProgramFactory()
    f.MMFinancialAidFactory(user=user, tier_program=tier_program, status="reset")
    f.MMFinancialAidFactory(user=user, tier_program=tier_program)
    f.MMSocialAuthFactory(user=user, provider="edxorg", uid="same-user-edx")
    f.MMSocialAuthFactory(user=user, provider="mitxonline", uid="same-user-mitx")
    f.MMUserFactory(email=user.email)
    f.MMCourseRunFactory(course=course, edx_course_key=None)
    f.MMCourseRunFactory(course=course, edx_course_key=None)
    f.MMProgramEnrollmentFactory(user=user)
    f.MMProgramEnrollmentFactory(user=user)
    order = f.MMOrderFactory(user=user, reference_number=None)
    f.MMOrderFactory(user=user, reference_number=None)
    f.MMReceiptFactory(order=order)
    f.MMReceiptFactory(order=order)
    assert fetch(
        f"SELECT count(*) FROM {mm}.grades_micromasterscoursecertificate "
        "WHERE user_id = %s AND course_id = %s",
        [user.id, course.id],
    ) == [(2,)]


def test_present_unique_keys_refuse_duplicates(mm):
    user, program = f.MMUserFactory(), f.MMProgramFactory()
    run = f.MMCourseRunFactory()
    f.MMProgramEnrollmentFactory(user=user, program=program, share_hash="a-share")
    f.MMFinalGradeFactory(user=user, course_run=run)
    f.MMCachedEnrollmentFactory(user=user, course_run=run)
    f.MMProgramCertificateFactory(user=user, program=program, hash="0" * 32)
    social = f.MMSocialAuthFactory(user=user)
    refused = {
        "username": lambda: f.MMUserFactory(username=user.username),
        "provider uid": lambda: f.MMSocialAuthFactory(provider=social.provider, uid=social.uid),
        "program enrollment": lambda: f.MMProgramEnrollmentFactory(user=user, program=program),
        "share hash": lambda: f.MMProgramEnrollmentFactory(share_hash="a-share"),
        "final grade": lambda: f.MMFinalGradeFactory(user=user, course_run=run),
        "cached enrollment": lambda: f.MMCachedEnrollmentFactory(user=user, course_run=run),
        "program certificate": lambda: f.MMProgramCertificateFactory(user=user, program=program),
        "certificate hash": lambda: f.MMProgramCertificateFactory(hash="0" * 32),
        "run key": lambda: f.MMCourseRunFactory(edx_course_key=run.edx_course_key),
        "course position": lambda: f.MMCourseFactory(
            program=run.course.program, position_in_program=run.course.position_in_program
        ),
        "reference number": lambda: f.MMOrderFactory(reference_number="MM-prod-1"),
    }
    f.MMOrderFactory(reference_number="MM-prod-1")
    assert {name for name, create in refused.items() if not raises_integrity_error(create)} == set()


def test_foreign_keys_are_checked_at_commit(mm):
    def dangling_certificate():
        f.insert_row(
            "grades_micromasterscoursecertificate",
            {
                "created_on": f.COURSE_CERTIFIED,
                "updated_on": f.COURSE_CERTIFIED,
                "hash": "f" * 32,
                "course_id": None,
                "user_id": 2_000_000_000,
            },
        )

    assert raises_integrity_error(dangling_certificate)
    assert not raises_integrity_error(lambda: f.MMCourseCertificateFactory(user=None, course=None))


FACTORIES = [
    f.MMUserFactory,
    f.MMSocialAuthFactory,
    f.MMProfileFactory,
    f.MMProgramFactory,
    f.MMCourseFactory,
    f.MMCourseRunFactory,
    f.MMCachedEnrollmentFactory,
    f.MMCachedCurrentGradeFactory,
    f.MMCachedCertificateFactory,
    f.MMProgramEnrollmentFactory,
    f.MMFinalGradeFactory,
    f.MMExamRunFactory,
    f.MMProctoredExamGradeFactory,
    f.MMCourseCertificateFactory,
    f.MMProgramCertificateFactory,
    f.MMTierFactory,
    f.MMTierProgramFactory,
    f.MMFinancialAidFactory,
    f.MMOrderFactory,
    f.MMLineFactory,
    f.MMReceiptFactory,
]


def test_there_is_one_factory_per_table():
    assert sorted(factory._meta.model for factory in FACTORIES) == sorted(TABLES)


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda factory: factory.__name__)
def test_factory_row_reads_back(mm, factory):
    row = factory()
    table = factory._meta.model
    stored = select_row(table, row.id)
    assert stored == {name: getattr(row, name) for name in column_names(table)}
    not_null = [c.name for c in TABLES[table] if not c.nullable]
    assert all(stored[name] is not None for name in not_null)
    assert raises_integrity_error(lambda: None) is False  # every FK it made points somewhere


def test_factory_defaults_follow_the_reference(mm):
    learner = f.linked_learner(username="jdoe")
    assert (learner.username, learner.social.uid, learner.social.provider) == (
        "jdoe",
        "jdoe",
        "mitxonline",
    )
    assert learner.password.startswith("!")
    edx = f.linked_learner(username="jdoe2", uid="jdoe_edx", provider="edxorg")
    assert (edx.social.user_id, edx.social.uid, edx.social.provider) == (
        edx.id,
        "jdoe_edx",
        "edxorg",
    )

    run = f.MMCourseRunFactory()
    assert re.fullmatch(
        rf"course-v1:MITx\+{re.escape(run.course.course_number)}\+\d+T2019", run.edx_course_key
    )
    assert (run.courseware_backend, run.is_discontinued) == ("edxorg", False)
    assert run.course.program_id == run.course.program.id

    enrollment = f.MMCachedEnrollmentFactory(user=learner, course_run=run)
    assert enrollment.data["user"] == "jdoe"
    assert enrollment.data["course_details"]["course_id"] == run.edx_course_key
    assert (enrollment.data["mode"], enrollment.data["is_active"]) == ("verified", True)
    assert enrollment.data["created"] == "2019-09-02T12:01:02Z"
    audit = f.MMCachedEnrollmentFactory(mode="audit", is_active=False)
    assert (audit.data["mode"], audit.data["is_active"]) == ("audit", False)

    grade = f.MMFinalGradeFactory(course_run=run, user=learner)
    assert (grade.status, grade.passed, grade.grade) == ("complete", True, 0.8)

    exam = f.MMProctoredExamGradeFactory(user=learner, course=run.course)
    assert (exam.passed, exam.score, exam.grade, exam.percentage_grade) == (True, 80.0, "pass", 0.8)
    assert (exam.passing_score, exam.row_data) == (60.0, {})
    assert exam.exam_run.course_id == run.course.id
    failed = f.MMProctoredExamGradeFactory(passed=False, score=40.0)
    assert (failed.grade, failed.percentage_grade) == ("fail", 0.4)

    certificate = f.MMCourseCertificateFactory(user=learner, course=run.course)
    assert re.fullmatch(r"[0-9a-f]{32}", certificate.hash)
    program_certificate = f.MMProgramCertificateFactory(user=learner)
    assert re.fullmatch(r"[0-9a-f]{32}", program_certificate.hash)

    tier_program = f.MMTierProgramFactory()
    assert tier_program.current is True
    aid = f.MMFinancialAidFactory(user=learner, tier_program=tier_program)
    assert (aid.status, aid.country_of_residence) == ("approved", "US")

    order = f.MMOrderFactory(user=learner)
    assert (order.status, order.reference_number) == ("fulfilled", f"MM-prod-{order.id}")
    line = f.MMLineFactory(order=order, course_run=run)
    assert (line.course_key, line.price) == (run.edx_course_key, order.total_price_paid)
    receipt = f.MMReceiptFactory(order=order)
    assert receipt.data["req_reference_number"] == order.reference_number
    assert receipt.data["decision"] == "ACCEPT"
    assert receipt.data["transaction_id"]
    assert receipt.data["req_amount"] == "250.00"

    profile = f.MMProfileFactory(user=learner)
    assert profile.student_id == profile.id
    assert profile.user_id == learner.id


def test_line_with_explicit_course_key_makes_no_run(mm):
    before = fetch(f"SELECT count(*) FROM {mm}.courses_courserun")
    line = f.MMLineFactory(course_key="course-v1:MITx+14.73x+1T2016", description="Seat")
    assert line.course_key == "course-v1:MITx+14.73x+1T2016"
    assert fetch(f"SELECT count(*) FROM {mm}.courses_courserun") == before


def test_values_are_deterministic(mm):
    f.MMUserFactory.reset_sequence(0)
    first = f.MMUserFactory.build()
    f.MMUserFactory.reset_sequence(0)
    again = f.MMUserFactory.build()
    assert first == again
    assert first.username == "mm_learner0"


def test_related_rows_must_be_passed_as_rows(mm):
    with pytest.raises(TypeError, match="not both user and user_id"):
        f.MMOrderFactory(user_id=1)
    with pytest.raises(TypeError, match="no column"):
        f.MMUserFactory(nickname="x")


def test_create_source_schema_builds_any_schema_and_restores_search_path(mm):
    (path_before,) = fetch("SHOW search_path")[0]
    with connection.cursor() as cursor:
        create_source_schema(cursor, "mm_scratch")
        create_source_schema(cursor, "mm_scratch")  # drop=True rebuilds over existing tables
    assert fetch("SHOW search_path")[0][0] == path_before
    for table in TABLES:
        assert [name for name, _, _ in db_columns("mm_scratch", table)] == list(column_names(table))
    with f.writing_to(schema="mm_scratch"):
        user = f.MMUserFactory()
    assert fetch("SELECT username FROM mm_scratch.auth_user") == [(user.username,)]
    assert f.SCHEMA == "micromasters"
    with (
        pytest.raises(ProgrammingError, match="already exists"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        create_source_schema(cursor, "mm_scratch", drop=False)


def test_empty_source_tables_keeps_tables_and_restarts_ids(mm):
    f.MMReceiptFactory()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending FK checks
        empty_source_tables(cursor, mm)
    for table in TABLES:
        assert fetch(f"SELECT count(*) FROM {mm}.{table}") == [(0,)]
    assert f.MMUserFactory().id == 1


def test_transactional_tests_commit_source_rows(mm_transactional):
    user = f.linked_learner(username="committed_learner")
    assert not connection.in_atomic_block
    assert fetch(f"SELECT count(*) FROM {mm_transactional}.auth_user WHERE id = %s", [user.id]) == [
        (1,)
    ]


def test_rows_committed_by_transactional_tests_do_not_leak(mm):
    assert fetch(f"SELECT count(*) FROM {mm}.auth_user WHERE username = 'committed_learner'") == [
        (0,)
    ]
