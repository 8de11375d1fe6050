"""Tests of the demo: the generated learner record, the MITx Online side, and the whole run.

The demo is what newcomers, the benchmark and reviewers see first, so its promises are
tested: the source has the proportions and the awkward cases it claims, the same seed gives
the same bytes, the MITx Online side matches the source's linked learners, and the real
command chain (create_micromasters_demo, setup_micromasters_fdw, import_micromasters_data)
imports something in every step, then nothing the second time.
"""

import contextlib
import json
import os
import re
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import override_settings
from psycopg import sql

from courses.models import CourseRun
from ecommerce.factories import latest_product_version
from ecommerce.models import Product
from main.testing.databases import belongs_to_a_gone_run
from micromasters_import.demo import catalog, guard
from micromasters_import.demo.database import MARKER, Server
from micromasters_import.demo.pseudorandom import MISSING_EVERY, MISSING_REMAINDER
from micromasters_import.demo.source import build_source
from micromasters_import.demo.target import build_target
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportBatch,
    ImportRun,
    ProgramId,
    ProgramTierId,
)
from micromasters_import.source.tables import quote_ident
from micromasters_import.testing.commands import create_demo
from users.models import User

# Rows per learner the demo promises (the benchmark's proportions).
PER_USER = {
    "dashboard_cachedenrollment": 5,
    "grades_finalgrade": 3,
    "grades_proctoredexamgrade": 0.75,
    "grades_micromasterscoursecertificate": 0.2,
    "grades_micromastersprogramcertificate": 0.025,
    "financialaid_financialaid": 0.15,
    "ecommerce_order": 0.25,
}
AID_STATUSES = {
    "approved",
    "auto-approved",
    "created",
    "pending-manual-approval",
    "docs-sent",
    "pending-docs",
    "skipped",
    "reset",
}
ORDER_STATUSES = {"fulfilled", "refunded", "partially_refunded", "created", "failed"}


def build(schema: str, users: int, seed: int = 1) -> dict[str, int]:
    """Generate the source into a schema of the test database (rolled back with the test)."""
    with connection.cursor() as cursor:
        return build_source(cursor, schema, users=users, seed=seed)


def rows(query: str, *params) -> list[tuple]:
    """All rows of a query on the test database."""
    with connection.cursor() as cursor:
        cursor.execute(query, params or None)
        return cursor.fetchall()


def value(query: str, *params):
    """The single value of a query."""
    return rows(query, *params)[0][0]


@pytest.mark.django_db
def test_counts_are_proportional_to_the_scale():
    small = build("demo_test_small", users=1000)
    large = build("demo_test_large", users=2000)
    assert small["auth_user"] == 1000
    assert large["auth_user"] == 2000
    for table, per_user in PER_USER.items():
        tolerance = 0.4 if table == "grades_micromastersprogramcertificate" else 0.25
        assert abs(large[table] / 2000 - per_user) <= per_user * tolerance, (table, large[table])
        assert 1.6 <= large[table] / small[table] <= 2.4, (table, small[table], large[table])
    # The catalogue does not scale.
    assert small["courses_courserun"] == large["courses_courserun"] == len(catalog.RUNS)


@pytest.mark.django_db
def test_the_source_has_every_case_the_import_must_handle():
    build("demo_test_shape", users=200)
    s = quote_ident("demo_test_shape")
    providers = dict(
        rows(f"SELECT provider, count(*) FROM {s}.social_auth_usersocialauth GROUP BY 1")
    )
    assert 60 <= providers["mitxonline"] <= 140  # about half the learners are linked
    assert providers["edxorg"] > 0
    unlinked = value(
        f"""SELECT count(*) FROM {s}.auth_user u WHERE NOT EXISTS (
              SELECT 1 FROM {s}.social_auth_usersocialauth a
               WHERE a.user_id = u.id AND a.provider = 'mitxonline')"""
    )
    assert unlinked > 0
    # Both certificate hash formats, duplicates per (user, course), and damaged hashes.
    formats = dict(
        rows(
            f"""SELECT CASE WHEN hash = md5(user_id || '|' || course_id) THEN 'md5'
                            WHEN hash ~ '^[0-9a-f]{{12}}4[0-9a-f]{{3}}[89ab][0-9a-f]{{15}}$'
                            THEN 'uuid4'
                            WHEN hash !~ '^[0-9a-fA-F]{{32}}$' THEN 'invalid'
                            ELSE 'other' END, count(*)
                  FROM {s}.grades_micromasterscoursecertificate GROUP BY 1"""
        )
    )
    assert formats.get("md5", 0) > 0
    assert formats.get("uuid4", 0) > 0
    assert formats.get("invalid", 0) >= 1
    assert "other" not in formats
    duplicates = value(
        f"""SELECT count(*) FROM (SELECT 1 FROM {s}.grades_micromasterscoursecertificate
                                  GROUP BY user_id, course_id HAVING count(*) > 1) d"""
    )
    assert duplicates >= 1
    statuses = {status for (status,) in rows(f"SELECT status FROM {s}.financialaid_financialaid")}
    assert statuses == AID_STATUSES
    assert value(
        f"SELECT count(*) FROM (SELECT user_id FROM {s}.financialaid_financialaid"
        " GROUP BY user_id HAVING count(*) > 1) m"
    )
    assert {status for (status,) in rows(f"SELECT status FROM {s}.ecommerce_order")} == (
        ORDER_STATUSES
    )
    assert value(f"SELECT count(*) FROM {s}.ecommerce_order WHERE reference_number IS NULL")
    assert value(f"SELECT count(*) FROM {s}.ecommerce_receipt WHERE NOT data ? 'transaction_id'")
    assert value(
        f"SELECT bool_and(reference_number = 'MM-prod-' || id) FROM {s}.ecommerce_order"
        " WHERE reference_number IS NOT NULL"
    )
    two_line_orders = value(
        f"SELECT count(*) FROM (SELECT order_id FROM {s}.ecommerce_line GROUP BY 1"
        " HAVING count(*) = 2) l"
    )
    assert two_line_orders > 0
    # Cached enrollments: the real payload shape, some without mode, some inactive.
    sample = value(f"SELECT data FROM {s}.dashboard_cachedenrollment ORDER BY id LIMIT 1")
    sample = sample if isinstance(sample, dict) else json.loads(sample)
    assert {"user", "is_active", "created", "course_details"} <= set(sample)
    assert sample["course_details"]["course_id"].startswith("course-v1:")
    assert value(f"SELECT count(*) FROM {s}.dashboard_cachedenrollment WHERE NOT data ? 'mode'")
    assert value(
        f"SELECT count(*) FROM {s}.dashboard_cachedenrollment"
        " WHERE NOT (data->>'is_active')::boolean"
    )
    # Exams: passes, failures and second attempts; final grades of every kind.
    assert value(f"SELECT count(*) FROM {s}.grades_proctoredexamgrade WHERE NOT passed")
    assert value(
        f"SELECT count(*) FROM (SELECT 1 FROM {s}.grades_proctoredexamgrade"
        " GROUP BY user_id, course_id HAVING count(*) > 1) t"
    )
    grades = dict(
        rows(
            f"""SELECT CASE WHEN grade IS NULL THEN 'null' WHEN status <> 'complete' THEN status
                            WHEN passed THEN 'passed' ELSE 'failed' END, count(*)
                  FROM {s}.grades_finalgrade GROUP BY 1"""
        )
    )
    assert set(grades) == {"null", "pending", "passed", "failed"}
    assert grades["passed"] > grades["failed"]
    # Runs on both backends, legacy keys, discontinued, without URL or key.
    runs = rows(
        f"SELECT courseware_backend, edx_course_key, is_discontinued, enrollment_url"
        f" FROM {s}.courses_courserun"
    )
    assert {backend for backend, *_ in runs} == {"edxorg", "mitxonline"}
    assert any(key and key.startswith("MITx/") for _, key, *_ in runs)
    assert any(key is None for _, key, *_ in runs)
    assert any(discontinued for _, _, discontinued, _ in runs)
    assert any(url is None for *_, url in runs)


def dump_digests(schema: str) -> dict[str, str]:
    """An md5 of every table's rows in id order: equal digests mean identical data."""
    digests = {}
    for table in (
        "auth_user",
        "social_auth_usersocialauth",
        "dashboard_cachedenrollment",
        "grades_finalgrade",
        "grades_proctoredexamgrade",
        "grades_micromasterscoursecertificate",
        "financialaid_financialaid",
        "ecommerce_order",
        "ecommerce_receipt",
    ):
        digests[table] = value(
            f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id))"
            f" FROM {quote_ident(schema)}.{quote_ident(table)} t"
        )
    return digests


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    build("demo_test_first", users=200, seed=7)
    build("demo_test_again", users=200, seed=7)
    build("demo_test_other", users=200, seed=8)
    first = dump_digests("demo_test_first")
    assert first == dump_digests("demo_test_again")
    other = dump_digests("demo_test_other")
    assert all(other[table] != first[table] for table in first)


@pytest.mark.django_db
def test_the_mitxonline_side_matches_the_linked_learners_and_is_idempotent():
    build("demo_test_target", users=200)
    linked = dict(
        rows(
            "SELECT user_id, uid FROM demo_test_target.social_auth_usersocialauth"
            " WHERE provider = 'mitxonline'"
        )
    )
    missing = {
        uid for user_id, uid in linked.items() if user_id % MISSING_EVERY == MISSING_REMAINDER
    }
    assert missing  # the learners whose MITx Online account is gone

    created = build_target(200, 1)

    usernames = set(User.objects.values_list("username", flat=True))
    assert usernames == set(linked.values()) - missing
    assert created["users_user"] == len(usernames)
    mapped = catalog.mapped_courses()
    assert set(CourseId.objects.values_list("micromasters_id", flat=True)) == {c.id for c in mapped}
    assert set(ProgramId.objects.values_list("micromasters_id", flat=True)) == {
        p.id for p in catalog.PROGRAMS if p.mapped
    }
    assert ProgramId.objects.filter(program_certificate_revision__isnull=True).count() == 0
    assert ProgramTierId.objects.count() == len(
        [t for t in catalog.TIER_PROGRAMS if t.current and catalog.program(t.program_id).mapped]
    )
    revisions = set(
        CourseCertificateRevisionId.objects.values_list("course__readable_id", flat=True)
    )
    assert revisions == {c.readable_id for c in mapped if c.certificate_revision}
    assert len(revisions) == len(mapped) - 1
    existing = {run.key for run in catalog.existing_mitxonline_runs()}
    assert set(CourseRun.all_objects.values_list("courseware_id", flat=True)) == existing
    for product in Product.objects.all():
        assert latest_product_version(product) is not None
    assert Product.objects.count() == len(existing)

    again = build_target(200, 1)
    assert not any(again.values()), again


# --- the whole chain through a real postgres_fdw mount -------------------------------------

RUN = str(os.getpid())
SOURCE_DB = f"test_demo_source_{RUN}"
READER = f"demo_reader_{RUN}"
SCHEMA = f"mm_demo_{RUN}"
SERVER = f"mm_demo_server_{RUN}"
READER_PASSWORD = "Demo#Reader/pw:1"
LEFTOVER = re.compile(r"^(?:test_demo_source|demo_reader|mm_demo|mm_demo_server)_(\d+)$")


def _admin(dbname: str) -> psycopg.Connection:
    """An autocommit connection as the test database's (super)user to another database."""
    return Server.from_settings().connect(dbname, autocommit=True)


def _dead(name: str) -> bool:
    """A name of this run, or of a run whose process is gone (left behind by a crash)."""
    return belongs_to_a_gone_run(name, LEFTOVER)


def _sweep() -> None:
    """Remove the mount, source database and reader role of this run and of dead runs."""
    test_db = connection.settings_dict["NAME"]
    with _admin(test_db) as conn:
        for (name,) in conn.execute("SELECT nspname FROM pg_namespace").fetchall():
            if _dead(name):
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        for (name,) in conn.execute("SELECT srvname FROM pg_foreign_server").fetchall():
            if _dead(name):
                conn.execute(sql.SQL("DROP SERVER {} CASCADE").format(sql.Identifier(name)))
    with _admin("postgres") as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database").fetchall():
            if _dead(name):
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        for (name,) in conn.execute("SELECT rolname FROM pg_roles").fetchall():
            if _dead(name):
                with contextlib.suppress(psycopg.errors.DependentObjectsStillExist):
                    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture
def demo_source(transactional_db, monkeypatch):
    """The demo source as its own database with a reader role; everything removed after."""
    _sweep()
    monkeypatch.setenv("DEMO_READER_PASSWORD", READER_PASSWORD)
    yield
    _sweep()


def _import(out: StringIO) -> dict[str, int]:
    """Run every step like an operator; rows inserted per step of that run."""
    call_command(
        "import_micromasters_data", all=True, interactive=False, source_schema=SCHEMA, stdout=out
    )
    batch = ImportRun.objects.order_by("-id").values_list("batch", flat=True).first()
    return dict(ImportRun.objects.filter(batch=batch).values_list("step", "rows_inserted"))


@pytest.mark.fdw
@pytest.mark.django_db(transaction=True)
def test_the_whole_demo_imports_something_in_every_step_then_nothing(demo_source):
    text, _ = create_demo(users=200, source_database=SOURCE_DB, reader=READER)
    out = StringIO()  # what the mount and the imports print, for a failure's message
    server = Server.from_settings()
    # Each phase of the build is reported as it ends, in order.
    phases = ["catalogue", "learners", "cached enrollments", "orders", "sequences and statistics"]
    positions = [text.find(f"\n  {phase} ") for phase in phases]
    assert -1 not in positions, text
    assert positions == sorted(positions), text
    assert f"MICROMASTERS_DATABASE_URL=postgres://{READER}:***@" in text
    assert READER_PASSWORD not in text
    with _admin(SOURCE_DB) as conn:
        comment = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [SOURCE_DB],
        ).fetchone()[0]
        assert comment.startswith(MARKER)
    # The reader can read the source, and only read it.
    reader_url = server.url(SOURCE_DB, user=READER, password=READER_PASSWORD)
    with psycopg.connect(reader_url) as conn:
        assert conn.execute("SELECT count(*) FROM auth_user").fetchone()[0] == 200
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM auth_user")

    with override_settings(MICROMASTERS_DATABASE_URL=reader_url):
        call_command("setup_micromasters_fdw", schema=SCHEMA, server_name=SERVER, stdout=out)
        first = _import(out)
        first_checks = ImportBatch.objects.order_by("-id").first().invariants
        second = _import(out)

    # The demo's receipts without a transaction id are skipped by the rules: an order they
    # leave unpaid is a warning that names the reason, never a failure.
    assert [check for check in first_checks if check["status"] == "fail"] == []
    money = next(check for check in first_checks if check["name"].startswith("imported order"))
    if money["status"] == "warn":
        assert '"receipt has no transaction_id"' in money["detail"], money

    # The import's rows (orders among them) still make this the demo's own database.
    assert guard.rows_not_made_by_demo() == {}
    assert first["001"] == 0
    empty = [step for step, inserted in first.items() if step != "001" and not inserted]
    assert not empty, f"steps that imported nothing: {empty}\n{out.getvalue()}"
    assert sum(second.values()) == 0, second

    # Rebuilding the demo (same seed) and importing again still inserts nothing.
    create_demo(users=200, source_database=SOURCE_DB, reader=READER)
    with override_settings(MICROMASTERS_DATABASE_URL=reader_url):
        assert sum(_import(StringIO()).values()) == 0


@pytest.mark.django_db
def test_the_command_refuses_databases_it_did_not_make(monkeypatch):
    monkeypatch.delenv("DEMO_READER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="MITx Online database itself"):
        call_command(
            "create_micromasters_demo",
            users=10,
            source_database=connection.settings_dict["NAME"],
            replace=True,
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="not made by create_micromasters_demo"):
        call_command(
            "create_micromasters_demo",
            users=10,
            source_database="postgres",
            replace=True,
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="DEMO_READER_PASSWORD"):
        call_command("create_micromasters_demo", users=10, reader="someone", stdout=StringIO())


# What the import writes, by natural keys (ids and import-time timestamps differ between runs).
TARGET_ROWS = {
    "courses_courserun": """
        SELECT c.readable_id, r.courseware_id, r.title, r.run_tag, r.start_date, r.end_date,
               r.expiration_date, r.has_courseware_url, r.live, r.language
          FROM courses_courserun r JOIN courses_course c ON c.id = r.course_id""",
    "courses_courserunenrollment": """
        SELECT u.username, r.courseware_id, e.active, e.enrollment_mode, e.edx_enrolled,
               e.edx_emails_subscription, e.edx_enrollment_retry_count, e.change_status
          FROM courses_courserunenrollment e JOIN users_user u ON u.id = e.user_id
          JOIN courses_courserun r ON r.id = e.run_id""",
    "courses_courserungrade": """
        SELECT u.username, r.courseware_id, g.grade, g.letter_grade, g.passed, g.created_on
          FROM courses_courserungrade g JOIN users_user u ON u.id = g.user_id
          JOIN courses_courserun r ON r.id = g.course_run_id""",
    "courses_courseruncertificate": """
        SELECT u.username, r.courseware_id, c.uuid, c.issue_date, c.certificate_page_revision_id
          FROM courses_courseruncertificate c JOIN users_user u ON u.id = c.user_id
          JOIN courses_courserun r ON r.id = c.course_run_id""",
    "courses_programenrollment": """
        SELECT u.username, p.readable_id, e.active, e.enrollment_mode
          FROM courses_programenrollment e JOIN users_user u ON u.id = e.user_id
          JOIN courses_program p ON p.id = e.program_id""",
    "courses_programcertificate": """
        SELECT u.username, p.readable_id, c.uuid, c.issue_date, c.certificate_page_revision_id
          FROM courses_programcertificate c JOIN users_user u ON u.id = c.user_id
          JOIN courses_program p ON p.id = c.program_id""",
    "courses_paidcourserun": """
        SELECT u.username, r.courseware_id, o.reference_number
          FROM courses_paidcourserun pr JOIN users_user u ON u.id = pr.user_id
          JOIN courses_courserun r ON r.id = pr.course_run_id
          JOIN ecommerce_order o ON o.id = pr.order_id""",
    "flexiblepricing_flexibleprice": """
        SELECT u.username, f.status, f.income_usd, f.tier_id, f.courseware_object_id, f.created_on
          FROM flexiblepricing_flexibleprice f JOIN users_user u ON u.id = f.user_id""",
    "ecommerce_order": """
        SELECT o.reference_number, o.state, o.total_price_paid, u.username, o.created_on
          FROM ecommerce_order o JOIN users_user u ON u.id = o.purchaser_id""",
    "ecommerce_line": """
        SELECT o.reference_number, l.purchased_object_id, l.product_version_id, l.quantity
          FROM ecommerce_line l JOIN ecommerce_order o ON o.id = l.order_id""",
    "ecommerce_transaction": """
        SELECT t.transaction_id, o.reference_number, t.amount, t.transaction_type, t.data
          FROM ecommerce_transaction t JOIN ecommerce_order o ON o.id = t.order_id""",
}


def _target_rows() -> dict[str, list[tuple]]:
    return {table: sorted(rows(query), key=repr) for table, query in TARGET_ROWS.items()}


@pytest.mark.fdw
@pytest.mark.django_db(transaction=True)
def test_the_mount_gives_the_same_target_rows_as_plain_tables(demo_source):
    """Staging through postgres_fdw (with its pushdown shortcuts) changes nothing that lands."""
    create_demo(users=300, seed=7, source_database=SOURCE_DB, reader=READER)
    reader_url = Server.from_settings().url(SOURCE_DB, user=READER, password=READER_PASSWORD)
    with override_settings(MICROMASTERS_DATABASE_URL=reader_url):
        call_command("setup_micromasters_fdw", schema=SCHEMA, server_name=SERVER, stdout=StringIO())
    plain = f"{SCHEMA}_plain"
    try:
        with transaction.atomic():
            build(plain, users=300, seed=7)
        landed = {}
        for schema in (SCHEMA, plain):
            with transaction.atomic():
                call_command(
                    "import_micromasters_data",
                    all=True,
                    interactive=False,
                    source_schema=schema,
                    stdout=StringIO(),
                )
                landed[schema] = _target_rows()
                transaction.set_rollback(True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(plain))
            )

    empty = [table for table, found in landed[SCHEMA].items() if not found]
    assert not empty, f"nothing landed in {empty}"
    for table in TARGET_ROWS:
        assert landed[SCHEMA][table] == landed[plain][table], table
