"""The README's "Running the migration for real", typed as an operator would, on a real database.

The target is a database MITx Online migrated itself (loaded from MITx Online's own dump), the
source a second database shaped like MicroMasters, read through postgres_fdw by a reader role
with a password. Every command runs as a subprocess with the environment the README sets, and
its exit code is checked. What must hold: `migrate` touches nothing MITx Online owns (every
table, index, constraint, rule and trigger, content type, permission and migration record is
as before, and what is new belongs to the import), a wrong MITXONLINE_TARGET or an old history
is refused before anything is written, the mount is made, the import lands exactly the rows
the rules say, and a second `--all --recheck` inserts nothing.
"""

import os
import subprocess
import sys
import uuid

import pytest
from django.apps import apps
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from psycopg import sql

from main.testing import mitxonline_database as real
from micromasters_import import mount
from micromasters_import.source import factories as mm
from micromasters_import.source.tables import create_source_schema

pytestmark = [
    pytest.mark.fdw,
    pytest.mark.skipif(not real.DUMP.exists(), reason=real.MISSING),
]

RUN = str(os.getpid())
TARGET_DB = f"test_real_mitxonline_{RUN}"
EMPTY_DB = f"test_real_empty_{RUN}"
SOURCE_DB = f"test_real_mm_source_{RUN}"
READER = f"mm_real_reader_{RUN}"
READER_PASSWORD = "RealReader9pw"
SOURCE_ALIAS = "real_mm_source"
# The import's own tables (every model of the app but MITx Online's four mappings): the only
# relations `migrate` may add to MITx Online's database.
MITXONLINE_MAPPINGS = {"courseid", "programid", "programtierid", "coursecertificaterevisionid"}
IMPORT_TABLES = tuple(
    model._meta.db_table
    for model in apps.get_app_config("micromasters_import").get_models()
    if model._meta.model_name not in MITXONLINE_MAPPINGS
)
# What the import writes, counted before and after a re-run.
TARGET_TABLES = (
    "courses_courserun",
    "courses_courserunenrollment",
    "courses_courserungrade",
    "courses_courseruncertificate",
    "courses_programenrollment",
    "courses_programcertificate",
    "courses_paidcourserun",
    "flexiblepricing_flexibleprice",
    "ecommerce_order",
    "ecommerce_line",
    "ecommerce_transaction",
)
RUN_KEY = "course-v1:MITx+14.100x+3T2019"


def manage(*args, database=TARGET_DB, target="mitxonline", stdin=None):
    """Run `./manage.py ARGS` as the README has the operator do, with its environment."""
    env = {
        **os.environ,
        "DATABASE_URL": real.url(database),
        "MICROMASTERS_DATABASE_URL": real.url(SOURCE_DB, READER, READER_PASSWORD),
    }
    env.pop("MITXONLINE_TARGET", None)
    if target:
        env["MITXONLINE_TARGET"] = target
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=real.PROJECT_DIR,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )


def succeeds(*args, **kwargs):
    """Run a command that must exit 0; its output is in the failure message if it does not."""
    result = manage(*args, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def one_line_error(result):
    """The error of a refused command: exit code 2 and a single line on stderr."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def source(django_db_setup, django_db_blocker):
    """A MicroMasters-shaped database with a small world, readable by a password role."""
    real.create_database(SOURCE_DB)
    with real.admin_connect("postgres") as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(READER)))
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(READER), sql.Literal(READER_PASSWORD)
            )
        )
    with real.admin_connect(SOURCE_DB) as conn:
        create_source_schema(conn.cursor(), "public", drop=True)
    connections.settings[SOURCE_ALIAS] = {
        **connections["default"].settings_dict,
        "NAME": SOURCE_DB,
    }
    try:
        with django_db_blocker.unblock(), mm.writing_to(schema="public", using=SOURCE_ALIAS):
            world = build_source()
    finally:
        connections[SOURCE_ALIAS].close()
        del connections[SOURCE_ALIAS]
        del connections.settings[SOURCE_ALIAS]
    with real.admin_connect(SOURCE_DB) as conn:
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(READER)
            )
        )
    yield world
    real.drop_database(SOURCE_DB)
    with real.admin_connect("postgres") as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(READER)))


def build_source():
    """One program, one course with an exam and a run, and three learners.

    jane is linked to a MITx Online account and has everything; arjun is linked to a username
    MITx Online does not have; dave never linked. Only jane's rows may land.
    """
    program = mm.MMProgramFactory(title="Data, Economics, and Development Policy")
    course = mm.MMCourseFactory(program=program, course_number="14.100x")
    mm.MMExamRunFactory(course=course)
    run = mm.MMCourseRunFactory(course=course, edx_course_key=RUN_KEY)
    jane = mm.linked_learner("jane_mm", uid="jane_mitx")
    arjun = mm.linked_learner("arjun_mm", uid="arjun_mitx")
    dave = mm.MMUserFactory(username="dave_mm")
    for learner in (jane, arjun):
        mm.MMCachedEnrollmentFactory(user=learner, course_run=run, mode="verified")
        mm.MMProctoredExamGradeFactory(user=learner, course=course, score=90.0)
        mm.MMFinalGradeFactory(user=learner, course_run=run, grade=0.9)
    certificate = mm.MMCourseCertificateFactory(user=jane, course=course)
    program_certificate = mm.MMProgramCertificateFactory(user=jane, program=program)
    for learner in (jane, arjun, dave):
        mm.MMProgramEnrollmentFactory(user=learner, program=program)
    tier_program = mm.MMTierProgramFactory(program=program, current=True)
    for learner in (jane, arjun):
        mm.MMFinancialAidFactory(user=learner, tier_program=tier_program, status="approved")
    return {
        "tier_program": tier_program,
        "program": program,
        "course": course,
        "certificate": certificate,
        "program_certificate": program_certificate,
    }


@pytest.fixture(scope="module")
def mitxonline(source):
    """MITx Online's migrated database, with what an operator has before importing."""
    real.create_database(TARGET_DB)
    real.load_dump(TARGET_DB)
    with real.admin_connect(TARGET_DB) as conn:
        ids = {}
        ids["jane"] = conn.execute(
            """INSERT INTO users_user (password, is_superuser, created_on, updated_on, username,
                                      email, name, is_staff, is_active, is_etl)
               VALUES ('!', false, now(), now(), 'jane_mitx', 'jane@example.com', 'Jane Doe',
                       false, true, false) RETURNING id"""
        ).fetchone()[0]
        ids["program"] = conn.execute(
            """INSERT INTO courses_program (created_on, updated_on, title, readable_id, live,
                                           availability, b2b_only)
               VALUES (now(), now(), 'DEDP', 'program-v1:MITx+DEDP', true, 'anytime', false)
               RETURNING id"""
        ).fetchone()[0]
        ids["course"] = conn.execute(
            """INSERT INTO courses_course (created_on, updated_on, title, readable_id, live)
               VALUES (now(), now(), 'Microeconomics', 'course-v1:MITxT+14.100x', true)
               RETURNING id"""
        ).fetchone()[0]
        page_type = conn.execute(
            """SELECT id FROM django_content_type
                WHERE app_label = 'cms' AND model = 'certificatepage'"""
        ).fetchone()[0]
        for name in ("program_revision", "course_revision"):
            ids[name] = conn.execute(
                """INSERT INTO wagtailcore_revision (created_at, content, object_id,
                                                    content_type_id, base_content_type_id,
                                                    object_str)
                   VALUES (now(), '{}', '1', %s, %s, %s) RETURNING id""",
                [page_type, page_type, name],
            ).fetchone()[0]
        conn.execute(
            """INSERT INTO micromasters_import_programid
                      (micromasters_id, program_id, program_certificate_revision_id)
               VALUES (%s, %s, %s)""",
            [source["program"].id, ids["program"], ids["program_revision"]],
        )
        program_type = conn.execute(
            "SELECT id FROM django_content_type WHERE app_label = 'courses' AND model = 'program'"
        ).fetchone()[0]
        discount = conn.execute(
            """INSERT INTO ecommerce_discount (created_on, updated_on, amount, automatic,
                                              discount_type, redemption_type, discount_code,
                                              is_bulk)
               VALUES (now(), now(), 750, false, 'dollars-off', 'unlimited', 'DEDP-TIER-1',
                       false) RETURNING id"""
        ).fetchone()[0]
        ids["tier"] = conn.execute(
            """INSERT INTO flexiblepricing_flexiblepricetier
                      (created_on, updated_on, courseware_object_id, current,
                       income_threshold_usd, courseware_content_type_id, discount_id)
               VALUES (now(), now(), %s, true, 0, %s, %s) RETURNING id""",
            [ids["program"], program_type, discount],
        ).fetchone()[0]
        ids["program_type"] = program_type
        conn.execute(
            """INSERT INTO micromasters_import_programtierid
                      (micromasters_tier_program_id, flexible_price_tier_id) VALUES (%s, %s)""",
            [source["tier_program"].id, ids["tier"]],
        )
        conn.execute(
            "INSERT INTO micromasters_import_courseid (micromasters_id, course_id) VALUES (%s, %s)",
            [source["course"].id, ids["course"]],
        )
        conn.execute(
            """INSERT INTO micromasters_import_coursecertificaterevisionid
                      (course_id, certificate_page_revision_id) VALUES (%s, %s)""",
            [ids["course"], ids["course_revision"]],
        )
    yield ids
    real.drop_database(TARGET_DB)


@pytest.fixture(scope="module")
def before_migrate(mitxonline):
    """MITx Online's schema and registrations as MITx Online left them."""
    with real.admin_connect(TARGET_DB) as conn:
        return real.schema_snapshot(conn), real.data_snapshot(conn)


def snapshots():
    with real.admin_connect(TARGET_DB) as conn:
        return real.schema_snapshot(conn), real.data_snapshot(conn)


def test_a_standins_migrate_is_refused_on_mitxonline_and_writes_nothing(before_migrate):
    line = one_line_error(manage("migrate", target=None))
    assert "is a database MITx Online migrated" in line
    assert "set MITXONLINE_TARGET=mitxonline" in line
    assert snapshots() == before_migrate


def test_an_older_import_history_names_the_migration_mitxonline_must_apply(before_migrate):
    with real.admin_connect(TARGET_DB) as conn:
        conn.execute(
            """DELETE FROM django_migrations WHERE app = 'micromasters_import'
                AND name = '0004_add_program_certificate_revision' RETURNING id, applied"""
        )
        try:
            line = one_line_error(manage("migrate"))
        finally:
            conn.execute(
                """INSERT INTO django_migrations (app, name, applied)
                   VALUES ('micromasters_import', '0004_add_program_certificate_revision', now())"""
            )
    assert "has not applied micromasters_import.0004_add_program_certificate_revision" in line
    assert snapshots() == before_migrate


def test_a_migration_mitxonline_has_not_applied_is_left_to_mitxonline(before_migrate):
    # Say this tool's django-reversion had a migration MITx Online's database lacks.
    with real.admin_connect(TARGET_DB) as conn:
        conn.execute(
            """DELETE FROM django_migrations WHERE app = 'reversion'
                AND name = '0002_add_index_on_version_for_content_type_and_db'"""
        )
        try:
            line = one_line_error(manage("migrate"))
        finally:
            conn.execute(
                """INSERT INTO django_migrations (app, name, applied) VALUES
                   ('reversion', '0002_add_index_on_version_for_content_type_and_db', now())"""
            )
    assert "would apply reversion.0002_add_index_on_version_for_content_type_and_db" in line
    assert snapshots() == before_migrate


def test_run_syncdb_is_refused_on_mitxonline(before_migrate):
    line = one_line_error(manage("migrate", "--run-syncdb"))
    assert "--run-syncdb" in line
    assert snapshots() == before_migrate


def test_a_mitxonline_migrate_on_an_empty_database_is_refused_and_creates_nothing(source):
    real.create_database(EMPTY_DB)
    try:
        line = one_line_error(manage("migrate", database=EMPTY_DB))
        with real.admin_connect(EMPTY_DB) as conn:
            assert real.schema_snapshot(conn) == {}
    finally:
        real.drop_database(EMPTY_DB)
    assert "is not a database MITx Online migrated" in line


@pytest.fixture(scope="module")
def migrated(before_migrate):
    """`./manage.py migrate` with MITXONLINE_TARGET=mitxonline, as the README says."""
    result = succeeds("migrate")
    return result, snapshots()


def test_migrate_creates_the_import_tables_and_touches_nothing_mitxonline_owns(
    before_migrate, migrated
):
    schema_before, data_before = before_migrate
    result, (schema_after, data_after) = migrated
    assert "Applying micromasters_import.0005_import_ledger... OK" in result.stdout
    # Every relation MITx Online had is exactly as it was; what is new is the import's own.
    assert {name: schema_after.get(name) for name in schema_before} == schema_before
    new = set(schema_after) - set(schema_before)
    assert new == {*IMPORT_TABLES, *(f"{table}_id_seq" for table in IMPORT_TABLES)}
    # Registrations: everything MITx Online had is unchanged; new rows are the import's.
    assert set(data_after["migrations"]) - set(data_before["migrations"]) == import_own_migrations()
    assert set(data_before["migrations"]) <= set(data_after["migrations"])
    for kind in ("content types", "permissions"):  # ordered by id: old rows, then new ones
        assert data_after[kind][: len(data_before[kind])] == data_before[kind], kind
    added_types = data_after["content types"][len(data_before["content types"]) :]
    own_models = sorted(
        model._meta.model_name
        for model in apps.get_app_config("micromasters_import").get_models()
        if model._meta.model_name not in MITXONLINE_MAPPINGS
    )
    assert sorted(row[1:] for row in added_types) == [
        ("micromasters_import", model) for model in own_models
    ]
    added_permissions = data_after["permissions"][len(data_before["permissions"]) :]
    custom = [
        ("micromasters_import", model._meta.model_name, codename)
        for model in apps.get_app_config("micromasters_import").get_models()
        for codename, _ in model._meta.permissions
    ]
    assert sorted(row[1:4] for row in added_permissions) == sorted(
        [
            ("micromasters_import", model, f"{action}_{model}")
            for model in own_models
            for action in ("add", "change", "delete", "view")
        ]
        + custom
    )
    # A second migrate has nothing to do.
    again = succeeds("migrate")
    assert "No migrations to apply." in again.stdout
    assert snapshots() == migrated[1]


def import_own_migrations():
    """The import's own migrations: every one of micromasters_import after MITx Online's 0004."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {
        (app, name)
        for app, name in loader.disk_migrations
        if app == "micromasters_import" and name[:4] > "0004"
    }


def count_rows(conn):
    return {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in TARGET_TABLES
    }


def test_the_readme_commands_mount_and_import_the_expected_rows_then_a_rerun_inserts_nothing(
    source, mitxonline, migrated
):
    succeeds("setup_micromasters_fdw")
    with real.admin_connect(TARGET_DB) as conn:
        mounted = conn.execute(
            """SELECT foreign_table_name FROM information_schema.foreign_tables
                WHERE foreign_table_schema = 'micromasters'"""
        ).fetchall()
    assert {name for (name,) in mounted} == set(mount.required_tables())
    listing = succeeds("import_micromasters_data", "--list")
    assert "never run" in listing.stdout
    dry = succeeds("import_micromasters_data", "--all", "--dry-run", "--noinput")
    assert "dry run" in (dry.stdout + dry.stderr).lower()
    with real.admin_connect(TARGET_DB) as conn:
        assert set(count_rows(conn).values()) == {0}

    # The README's last command asks for confirmation.
    succeeds("import_micromasters_data", "--all", stdin="yes\n")

    jane = mitxonline["jane"]
    with real.admin_connect(TARGET_DB) as conn:
        run = conn.execute(
            """SELECT id, course_id, run_tag, live, is_self_paced, language
                 FROM courses_courserun WHERE courseware_id = %s""",
            [RUN_KEY],
        ).fetchone()
        assert run[1:] == (mitxonline["course"], "3T2019", True, False, "en")
        assert conn.execute(
            """SELECT user_id, run_id, active, enrollment_mode, edx_enrolled,
                      edx_enrollment_retry_count FROM courses_courserunenrollment"""
        ).fetchall() == [(jane, run[0], True, "verified", True, 0)]
        assert conn.execute(
            """SELECT user_id, course_run_id, grade, letter_grade, passed, set_by_admin
                 FROM courses_courserungrade"""
        ).fetchall() == [(jane, run[0], 0.9, "A", True, False)]
        certificate = source["certificate"]
        assert conn.execute(
            """SELECT user_id, course_run_id, uuid::text, certificate_page_revision_id, issue_date
                 FROM courses_courseruncertificate"""
        ).fetchall() == [
            (
                jane,
                run[0],
                str(uuid.UUID(certificate.hash)),
                mitxonline["course_revision"],
                certificate.created_on,
            )
        ]
        assert conn.execute(
            "SELECT user_id, program_id, enrollment_mode, active FROM courses_programenrollment"
        ).fetchall() == [(jane, mitxonline["program"], "audit", True)]
        assert conn.execute(
            """SELECT user_id, program_id, certificate_page_revision_id
                 FROM courses_programcertificate"""
        ).fetchall() == [(jane, mitxonline["program"], mitxonline["program_revision"])]
        assert conn.execute(
            """SELECT user_id, status, tier_id, courseware_content_type_id, courseware_object_id
                 FROM flexiblepricing_flexibleprice"""
        ).fetchall() == [
            (
                jane,
                "approved",
                mitxonline["tier"],
                mitxonline["program_type"],
                mitxonline["program"],
            )
        ]
        first = count_rows(conn)
        # Every row the import wrote is traced to its source row.
        assert conn.execute("SELECT count(*) FROM micromasters_import_importedrow").fetchone()[
            0
        ] == sum(first.values())

    rerun = succeeds("import_micromasters_data", "--all", "--recheck", "--noinput")
    assert "Traceback" not in rerun.stderr
    with real.admin_connect(TARGET_DB) as conn:
        assert count_rows(conn) == first
        rows = conn.execute(
            """SELECT step, status, rows_inserted FROM micromasters_import_importrun
                WHERE batch = (SELECT batch FROM micromasters_import_importrun ORDER BY id DESC
                               LIMIT 1) ORDER BY step"""
        ).fetchall()
    assert [step for step, _, _ in rows] == [f"{n:03d}" for n in range(1, 14)]
    assert {(status, inserted) for _, status, inserted in rows} == {("done", 0)}


def test_the_first_run_is_reverted_exactly_and_can_be_imported_again(mitxonline, migrated):
    with real.admin_connect(TARGET_DB) as conn:
        imported = count_rows(conn)
        first = conn.execute(
            """SELECT batch FROM micromasters_import_importbatch
                WHERE NOT dry_run ORDER BY id LIMIT 1"""
        ).fetchone()[0]
    assert sum(imported.values()) > 0, "runs after the README commands test"

    listed = succeeds("import_micromasters_data", "--revert", str(first), "--dry-run")
    assert "Would delete what run" in listed.stdout
    reverted = succeeds("import_micromasters_data", "--revert", str(first), stdin="y\n")

    assert "Kept" not in reverted.stdout
    with real.admin_connect(TARGET_DB) as conn:
        assert set(count_rows(conn).values()) == {0}
        assert conn.execute("SELECT count(*) FROM micromasters_import_importedrow").fetchone() == (
            0,
        )
    again = succeeds("import_micromasters_data", "--all", "--noinput")
    assert "Traceback" not in again.stderr
    with real.admin_connect(TARGET_DB) as conn:
        assert count_rows(conn) == imported
