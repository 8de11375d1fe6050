"""A run killed with `kill -9` leaves nothing that blocks the next run or misleads the ledger.

These tests run the real command in a child process against the test database, make its
database session busy on purpose (a trigger or a source view that sleeps in the server), kill
the child while the server is still executing its statement, and look at what is left. The
data must be committed for the child to see it, hence `mm_transactional`.
"""

import os
import socket
import subprocess
import sys
import textwrap
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql

from courses.models import CourseRun
from main.testing.databases import connect as other_connection
from micromasters_import.engine import lock
from micromasters_import.engine.ledger import (
    INTERRUPTED_ERROR,
    NOT_STARTED_ERROR,
    close_interrupted,
)
from micromasters_import.factories import ImportRunFactory
from micromasters_import.management.commands.import_micromasters_data_test import (
    learner,
    mapped_course,
    mapped_program,
)
from micromasters_import.models import ImportRun
from micromasters_import.source import factories as mm_factories
from micromasters_import.testing.lock import lock_is_free

PROJECT_DIR = Path(__file__).resolve().parents[2]
SLEEP = 120  # far longer than any bound asserted below: a test passing early proves the point
SLOW_SCHEMA = f"mm_slow_source_{os.getpid()}"


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}"


def start_import(*args) -> subprocess.Popen:
    """`manage.py import_micromasters_data ARGS --noinput` in a child process."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_micromasters_data", *args, "--noinput"],
        cwd=PROJECT_DIR,
        env={**os.environ, "DATABASE_URL": database_url()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, seconds: float, what: str):
    """Poll `condition()` until it returns something truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def sleeping_backend(client_pid: int) -> int | None:
    """The server pid of the child's session while it sleeps in a statement."""
    with other_connection() as other:
        row = other.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND state = 'active' AND wait_event = 'PgSleep'",
            [f"{lock.APPLICATION} pid={client_pid} host={socket.gethostname()}"[:63]],
        ).fetchone()
    return row[0] if row else None


def backend_exists(pid: int) -> bool:
    with other_connection() as other:
        return bool(
            other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        )


def run(*args) -> str:
    out = StringIO()
    call_command("import_micromasters_data", *args, stdout=out, stderr=StringIO(), no_color=True)
    return out.getvalue()


def plan_line(output: str, num: str) -> str:
    (line,) = [line for line in output.splitlines() if line.strip().startswith(f"{num}_")]
    return line


@pytest.fixture
def world(mm_transactional):
    """Step 002 inserts one course run and step 011 one program enrollment (committed)."""
    course = mapped_course()
    mm_factories.MMCourseRunFactory(course=course.mm)
    program = mapped_program()
    someone = learner()
    mm_factories.MMProgramEnrollmentFactory(program=program.mm, user=someone.mm)


@pytest.fixture
def slow_course_run_inserts(world):
    """Inserting a course run sleeps in the server: step 002 is busy there for minutes."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE FUNCTION mm_test_slow_insert() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({SLEEP}); RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER mm_test_slow_insert BEFORE INSERT ON courses_courserun "
            "FOR EACH ROW EXECUTE FUNCTION mm_test_slow_insert()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS mm_test_slow_insert ON courses_courserun")
        cursor.execute("DROP FUNCTION IF EXISTS mm_test_slow_insert()")


@pytest.fixture
def killed_children():
    """Children to kill -9, and their sessions to end, whatever the test did."""
    children: list[subprocess.Popen] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        with other_connection() as other:
            other.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [f"{lock.APPLICATION} pid={child.pid} host={socket.gethostname()}"[:63]],
            )


def kill_during_step_002(children) -> tuple[int, object]:
    """Start `--num 002,011`, kill -9 it while its server session runs step 002.

    Returns the killed session's server pid and the start time the ledger had committed.
    """
    child = start_import("--num", "002,011")
    children.append(child)
    backend = wait_for(lambda: sleeping_backend(child.pid), 60, "step 002 to be running")
    with other_connection() as other:
        (started_on,) = other.execute(
            "SELECT started_on FROM micromasters_import_importrun WHERE step = '002'"
        ).fetchone()
    child.kill()
    child.wait()
    return backend, started_on


# -- finding 6: the lock of a killed run ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_killed_runs_session_ends_within_seconds_and_frees_the_lock(
    slow_course_run_inserts, killed_children
):
    # Issue 11, finding 6: after kill -9 while its backend was executing, a new run was
    # refused until that statement ended (here it would sleep for SLEEP seconds).
    backend, _ = kill_during_step_002(killed_children)
    killed_at = time.monotonic()

    wait_for(lock_is_free, 20, "the server to end the killed run's session")

    assert time.monotonic() - killed_at < 20 < SLEEP
    assert not backend_exists(backend)
    assert CourseRun.all_objects.count() == 0  # its transaction was rolled back


HOLDER = textwrap.dedent(
    """
    import sys
    import psycopg
    from micromasters_import.engine.lock import LOCK_KEY, application_name
    # An import session as an older version of this tool held it: no client checks.
    with psycopg.connect(sys.argv[1], autocommit=True, application_name=application_name()) as c:
        c.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        c.execute("SELECT pg_sleep(%s)", [int(sys.argv[2])])
    """
)


@pytest.mark.django_db(transaction=True)
def test_a_lock_held_by_a_session_whose_client_is_gone_is_named_with_the_way_out(
    world, killed_children
):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url(), str(SLEEP)], cwd=PROJECT_DIR
    )
    killed_children.append(child)
    backend = wait_for(lambda: sleeping_backend(child.pid), 30, "the holder to sleep")
    child.kill()
    child.wait()

    with pytest.raises(CommandError) as refused:
        run("--num", "002", "--noinput")

    message = str(refused.value)
    assert refused.value.returncode == 2
    assert message.startswith(f"An import run is already in progress: session pid {backend} (")
    assert "running a statement since" in message
    assert (
        f"its client, process {child.pid} on this host, is gone, but the server has not "
        f"ended the session yet: end it with `SELECT pg_terminate_backend({backend});`"
    ) in message
    assert "\n" not in message

    with other_connection() as other:  # the way out the message names
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    wait_for(lock_is_free, 10, "the terminated session to release the lock")
    run("--num", "002", "--noinput")
    assert CourseRun.all_objects.count() == 1


def test_a_live_holder_on_this_host_is_said_to_be_running(world):
    with other_connection() as other:
        other.execute("SELECT set_config('application_name', %s, false)", [lock.application_name()])
        other.execute("SELECT pg_advisory_lock(%s)", [lock.LOCK_KEY])

        with pytest.raises(CommandError) as refused:
            run("--num", "002", "--noinput")

    assert f"its client, process {os.getpid()} on this host, is running" in str(refused.value)
    assert "pg_terminate_backend" not in str(refused.value)


# -- finding 7: the ledger of a killed run ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_ledger_shows_the_killed_step_interrupted_and_the_rest_not_run(
    slow_course_run_inserts, killed_children
):
    # Issue 11, finding 7: the killed step and every step that never started all read
    # "started, never finished", and started_on stayed NULL for the step that really ran.
    _, started_on = kill_during_step_002(killed_children)
    assert started_on is not None  # committed when the step really started
    wait_for(lock_is_free, 20, "the server to end the killed run's session")

    out = run("--list")

    rows = {row.step: row for row in ImportRun.objects.all()}
    assert set(rows) == {"002", "011"}
    assert (rows["002"].status, rows["002"].started_on, rows["002"].error) == (
        ImportRun.INTERRUPTED,
        started_on,
        INTERRUPTED_ERROR,
    )
    assert rows["002"].finished_on is None
    assert (rows["011"].status, rows["011"].started_on, rows["011"].error) == (
        ImportRun.NOT_RUN,
        None,
        NOT_STARTED_ERROR,
    )
    assert f"interrupted: started {started_on:%Y-%m-%d %H:%M:%S}" in plan_line(out, "002")
    assert "never run" in plan_line(out, "011")

    # The next run is not blocked, and it records itself over the interrupted attempt.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER mm_test_slow_insert ON courses_courserun")
    out = run("--num", "002,011", "--noinput")
    assert "done" in plan_line(run("--list"), "002")
    assert CourseRun.all_objects.count() == 1


@pytest.fixture
def slow_source(world):
    """A source schema of views over `micromasters` whose course runs take minutes to read,
    but only once a run has written its ledger rows: the preflight's read stays quick, the
    run's staging is where the session sleeps."""
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SLOW_SCHEMA)))
        cursor.execute(
            sql.SQL(
                "CREATE FUNCTION {}.pause() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
                "IF EXISTS (SELECT 1 FROM micromasters_import_importrun "
                "WHERE status = 'pending') THEN PERFORM pg_sleep({}); END IF; "
                "RETURN true; END $$"
            ).format(sql.Identifier(SLOW_SCHEMA), sql.Literal(SLEEP))
        )
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'micromasters'")
        for (table,) in cursor.fetchall():
            slow = sql.SQL(" WHERE {}.pause()").format(sql.Identifier(SLOW_SCHEMA))
            cursor.execute(
                sql.SQL("CREATE VIEW {} AS SELECT * FROM {}{}").format(
                    sql.Identifier(SLOW_SCHEMA, table),
                    sql.Identifier("micromasters", table),
                    slow if table == "courses_courserun" else sql.SQL(""),
                )
            )
    yield SLOW_SCHEMA
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SLOW_SCHEMA)))


@pytest.mark.django_db(transaction=True)
def test_a_kill_during_staging_leaves_every_step_not_run(slow_source, killed_children):
    # Issue 11, finding 7: a kill during staging marked all the steps started.
    child = start_import("--num", "002,011", "--source-schema", slow_source)
    killed_children.append(child)
    wait_for(lambda: sleeping_backend(child.pid), 60, "staging to be running")
    assert ImportRun.objects.filter(status=ImportRun.PENDING).count() == 2
    child.kill()
    child.wait()
    wait_for(lock_is_free, 20, "the server to end the killed run's session")

    out = run("--list")

    assert sorted(ImportRun.objects.values_list("step", "status", "started_on", "error")) == [
        ("002", ImportRun.NOT_RUN, None, NOT_STARTED_ERROR),
        ("011", ImportRun.NOT_RUN, None, NOT_STARTED_ERROR),
    ]
    assert "never run" in plan_line(out, "002")
    assert "never run" in plan_line(out, "011")


def test_the_pending_rows_of_a_run_in_progress_are_left_alone(world):
    live = ImportRunFactory(step="002", status=ImportRun.PENDING)
    dead = ImportRunFactory(step="011", status=ImportRun.PENDING)
    with other_connection() as other:
        other.execute(
            "SELECT pg_advisory_lock(%s::int, hashtext(%s))",
            [lock.BATCH_LOCK_CLASS, str(live.batch)],
        )

        assert close_interrupted() == 1

    live.refresh_from_db()
    dead.refresh_from_db()
    assert (live.status, dead.status) == (ImportRun.PENDING, ImportRun.NOT_RUN)
