"""Reading the MicroMasters side of the mappings: plain source tables, and a real fdw mount."""

import html
import os
import socket
import threading
import time

import pytest
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.urls import reverse
from psycopg import sql

from courses.factories import CourseFactory
from micromasters_import import mount
from micromasters_import.factories import CourseIdFactory, ProgramIdFactory, ProgramTierIdFactory
from micromasters_import.models import CourseId
from micromasters_import.operator import source_lookup
from micromasters_import.source import factories as mm_factories
from micromasters_import.testing.loopback import loopback_mount


def test_reads_courses_programs_and_tiers_by_id(mm):
    program = mm_factories.MMProgramFactory(title="Supply Chain Management", live=False)
    course = mm_factories.MMCourseFactory(
        program=program, title="Supply Chain Analytics", course_number="CTL.SC0x"
    )
    tier = mm_factories.MMTierProgramFactory(
        program=program,
        tier=mm_factories.MMTierFactory(name="Tier 2"),
        income_threshold=25000,
        discount_amount=750,
        current=False,
    )

    courses = source_lookup.courses([course.id, 987654])
    assert list(courses) == [course.id]
    assert courses[course.id].label == "CTL.SC0x Supply Chain Analytics"
    assert courses[course.id].program_title == "Supply Chain Management"
    assert source_lookup.programs([program.id])[program.id].live is False
    assert source_lookup.tier_programs([tier.id])[tier.id].label == (
        "Tier 2, income >= $25,000, $750 off, not current (Supply Chain Management)"
    )
    assert source_lookup.courses([]) == {}
    assert source_lookup.problem() is None


def test_learner_data_counts_per_course_program_and_tier(mm):
    course = mm_factories.MMCourseFactory()
    run = mm_factories.MMCourseRunFactory(course=course)
    mm_factories.MMCachedEnrollmentFactory.create_batch(3, course_run=run)
    mm_factories.MMCourseCertificateFactory(course=course)
    mm_factories.MMProgramCertificateFactory(program=course.program)
    aid = mm_factories.MMFinancialAidFactory()

    data = source_lookup.learner_data()

    assert data.courses[course.id].describe() == "3 enrollments, 1 certificate"
    assert data.programs[course.program.id].describe() == "1 certificate"
    assert data.tier_programs[aid.tier_program.id].describe() == "1 financial aid request"
    assert mm_factories.MMCourseFactory().id not in data.courses


def test_a_missing_table_is_reported_not_raised(mm):
    tier = mm_factories.MMTierProgramFactory(income_threshold=0, discount_amount=750)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{mm}".financialaid_tier CASCADE')
    # The tier name is optional (mounts made before it was needed lack financialaid_tier).
    assert source_lookup.tier_programs([tier.id])[tier.id].tier_name is None
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{mm}".courses_course CASCADE')
    assert source_lookup.courses() is None
    assert "lacks table(s) courses_course" in source_lookup.problem()


def test_inside_an_atomic_block_a_failure_rolls_back_only_its_savepoint(mm):
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{mm}".courses_program CASCADE')
        cursor.execute(f'CREATE VIEW "{mm}".courses_program AS SELECT 1 / 0 AS id, 1 AS title')
    with transaction.atomic():
        CourseId.objects.count()
        assert source_lookup.programs() is None
        assert CourseId.objects.count() == 0


# --- through a real postgres_fdw mount of the test database's own source schema ------------

FDW_SERVER = f"mm_lookup_server_{os.getpid()}"
FDW_SCHEMA = f"mm_lookup_{os.getpid()}"


@pytest.fixture
def mounted(mm_transactional):
    """The `micromasters` plain tables mounted again through postgres_fdw, as in production."""
    with loopback_mount(mm_transactional, FDW_SERVER, FDW_SCHEMA) as schema:
        yield schema


@pytest.mark.fdw
def test_through_a_real_mount_and_with_its_server_unreachable(mounted):
    course = mm_factories.MMCourseFactory(title="Microeconomics", course_number="14.100x")
    run = mm_factories.MMCourseRunFactory(course=course)
    mm_factories.MMCachedEnrollmentFactory(course_run=run)

    assert source_lookup.problem(mounted) is None
    assert source_lookup.courses([course.id], schema=mounted)[course.id].title == "Microeconomics"
    assert source_lookup.learner_data(mounted).courses[course.id].enrollments == 1

    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("ALTER SERVER {} OPTIONS (SET port '1')").format(sql.Identifier(FDW_SERVER))
        )
    with transaction.atomic():
        problem = source_lookup.problem(mounted)
        assert source_lookup.courses([course.id], schema=mounted) is None
        assert CourseId.objects.count() == 0  # the transaction is still usable
    assert problem.startswith(f'The MicroMasters source (schema "{mounted}") could not be read')
    assert "could not connect" in problem or "connection" in problem


# --- a source that accepts connections and never answers -------------------------------------


class HangingListener:
    """A TCP port that accepts every connection and never sends a byte, counting them."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(client)  # held open, never answered

    def close(self):
        self.server.close()
        for client in self.accepted:
            client.close()


HANG_SERVER = f"mm_hanging_server_{os.getpid()}"
HANG_SCHEMA = f"mm_hanging_{os.getpid()}"


@pytest.fixture
def hanging_mount(db, micromasters_schema, settings):
    """A postgres_fdw mount, made as setup_micromasters_fdw makes it, of a source that hangs.

    The foreign tables are declared by hand (IMPORT would need the source to answer); the
    server options are the shipped ones, connect_timeout 10 included.
    """
    listener = HangingListener()
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
        cursor.execute(
            sql.SQL(
                "CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', "
                "port {}, dbname 'micromasters', fetch_size '10000', "
                "use_remote_estimate 'true', connect_timeout {})"
            ).format(
                sql.Identifier(HANG_SERVER),
                sql.Literal(str(listener.port)),
                sql.Literal(str(mount.DEFAULT_CONNECT_TIMEOUT)),
            )
        )
        cursor.execute(
            sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS (user 'mm')").format(
                sql.Identifier(HANG_SERVER)
            )
        )
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(HANG_SCHEMA)))
        cursor.execute(
            "SELECT c.relname, string_agg(format('%%I %%s', a.attname, "
            "format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE n.nspname = %s AND c.relkind = 'r' GROUP BY c.relname",
            [mm_factories.SCHEMA],
        )
        for table, columns in cursor.fetchall():
            cursor.execute(
                sql.SQL("CREATE FOREIGN TABLE {} ({}) SERVER {}").format(
                    sql.Identifier(HANG_SCHEMA, table),
                    sql.SQL(columns),
                    sql.Identifier(HANG_SERVER),
                )
            )
    settings.MICROMASTERS_SCHEMA = HANG_SCHEMA
    yield listener
    listener.close()


@pytest.mark.fdw
def test_a_hanging_source_costs_each_admin_page_one_short_wait(staff_client, hanging_mount):
    # Issue 11, finding 5: the mapping lists and change form took 30 s (three 10 s connects),
    # readiness and suggestions 10 s.
    mapping = CourseIdFactory()
    ProgramIdFactory()
    ProgramTierIdFactory()
    pages = {
        "course mappings": reverse("admin:micromasters_import_courseid_changelist"),
        "course mapping form": reverse(
            "admin:micromasters_import_courseid_change", args=[mapping.pk]
        ),
        "program mappings": reverse("admin:micromasters_import_programid_changelist"),
        "tier mappings": reverse("admin:micromasters_import_programtierid_changelist"),
        "readiness": reverse("admin:micromasters_import_readiness"),
        "suggestions": reverse("admin:micromasters_import_suggestions"),
    }
    said = (
        f'The MicroMasters source (schema "{HANG_SCHEMA}", server 127.0.0.1:{hanging_mount.port})'
        f" did not answer within {source_lookup.CONNECT_TIMEOUT_S} s"
    )
    for name, url in pages.items():
        before = len(hanging_mount.accepted)
        started = time.monotonic()

        response = staff_client.get(url)

        seconds = time.monotonic() - started
        assert response.status_code == 200, name
        assert said in html.unescape(response.content.decode()), name
        assert len(hanging_mount.accepted) - before == 1, name  # one connection attempt a page
        assert seconds < source_lookup.CONNECT_TIMEOUT_S + 3, (name, seconds)

    # The shortened timeout was only ever the page's: the mount keeps its own.
    with connection.cursor() as cursor:
        cursor.execute("SELECT srvoptions FROM pg_foreign_server WHERE srvname = %s", [HANG_SERVER])
        assert "connect_timeout=10" in cursor.fetchone()[0]


@pytest.mark.fdw
def test_a_form_saved_while_the_source_hangs_waits_once_and_says_so(staff_client, hanging_mount):
    course = CourseFactory()
    started = time.monotonic()

    response = staff_client.post(
        reverse("admin:micromasters_import_courseid_add"),
        {"micromasters_id": 4242, "course": course.pk},
    )

    assert time.monotonic() - started < source_lookup.CONNECT_TIMEOUT_S + 3
    assert response.status_code == 302
    assert len(hanging_mount.accepted) == 1
    assert CourseId.objects.get().micromasters_id == 4242  # saved unchecked, with a warning
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("was not checked" in m and "did not answer" in m for m in messages), messages
