"""Tests of `setup_micromasters_fdw` through a real postgres_fdw mount.

A second database on the same server plays MicroMasters, read by a password-protected role,
so the password checks are real (the local cluster trusts only the superuser). The tests are
transactional because postgres_fdw's connection is another session: it cannot see rows the
test has not committed. The mount goes into its own schema and server name, because the
suite's `micromasters` schema holds plain source tables other tests use.
"""

import contextlib
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql

from micromasters_import import fdw, runner
from micromasters_import.factories import CourseIdFactory
from micromasters_import.models import ImportRun
from micromasters_import.source.tables import create_source_schema
from micromasters_import.steps import discover, select

pytestmark = pytest.mark.fdw

# Per-process names: other runs of this suite may use the same server at the same time,
# and roles and databases are cluster-wide. Leftovers of dead runs are swept at start.
RUN = str(os.getpid())
SOURCE_DB = f"test_mm_source_fdw_{RUN}"
READER = f"mm_fdw_reader_{RUN}"
LOCAL_ROLE = f"mm_fdw_local_{RUN}"
SCHEMA = f"mm_fdw_test_{RUN}"
SERVER = f"mm_fdw_test_server_{RUN}"
LEFTOVER = re.compile(r"^(?:test_mm_source_fdw|mm_fdw_reader|mm_fdw_local|mm_fdw_test)_(\d+)$")
LEFTOVER_SERVER = re.compile(r"^mm_fdw_test_server_(\d+)$")
# Characters that must be percent-encoded in a URL, to test the decoding and the scrubbing.
PASSWORD = "Rd$pw/fdw@Test:91%"
WRONG_PASSWORD = "Wrong#Pa55/for-fdw"


def _admin_connect(dbname: str) -> psycopg.Connection:
    """An autocommit superuser connection to any database of the test server."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


def _url(password: str | None = PASSWORD, dbname: str = SOURCE_DB, port=None) -> str:
    db = connection.settings_dict
    secret = f":{quote(password, safe='')}" if password else ""
    return f"postgres://{READER}{secret}@127.0.0.1:{port or db['PORT'] or 5432}/{dbname}"


def _gone(name: str, pattern: re.Pattern = LEFTOVER) -> bool:
    """Whether a name belongs to this run or to a run whose process has ended."""
    match = pattern.match(name)
    if not match:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _sweep(test_db: str) -> None:
    """Remove this run's objects and those of dead runs: test database first, then the cluster."""
    with _admin_connect(test_db) as local:
        for (name,) in local.execute("SELECT srvname FROM pg_foreign_server").fetchall():
            if _gone(name, LEFTOVER_SERVER):
                local.execute(sql.SQL("DROP SERVER {} CASCADE").format(sql.Identifier(name)))
        for (name,) in local.execute("SELECT nspname FROM pg_namespace").fetchall():
            if _gone(name):
                local.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        roles = [r for (r,) in local.execute("SELECT rolname FROM pg_roles").fetchall()]
        for role in filter(_gone, roles):
            local.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
    with _admin_connect("postgres") as admin:
        for (name,) in admin.execute("SELECT datname FROM pg_database").fetchall():
            if _gone(name):
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        for role in filter(_gone, roles):
            # A role with objects in another test database stays for a later sweep there.
            with contextlib.suppress(psycopg.errors.DependentObjectsStillExist):
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture(scope="session")
def source_server(django_db_setup, django_db_blocker):
    """The MicroMasters stand-in database and its reader role; removed after the session."""
    with django_db_blocker.unblock():
        test_db = connection.settings_dict["NAME"]
        _sweep(test_db)
        with _admin_connect("postgres") as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(READER), sql.Literal(PASSWORD)
                )
            )
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(LOCAL_ROLE)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SOURCE_DB)))
        yield test_db
        _sweep(test_db)


@pytest.fixture
def source(source_server):
    """A fresh MicroMasters schema in the source database, two users, readable by READER."""
    with _admin_connect(SOURCE_DB) as conn, conn.cursor() as cursor:
        create_source_schema(cursor, "public", drop=True)
        cursor.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            VALUES ('x', false, 'jane', 'Jane', 'Doe', 'jane@example.com', false, true, now()),
                   ('x', false, 'arjun', 'Arjun', 'S', 'arjun@example.com', false, true, now())
            """
        )
        cursor.execute(
            """
            INSERT INTO social_auth_usersocialauth (provider, uid, user_id, created, modified,
                                                    extra_data)
            SELECT 'mitxonline', 'jane-mitx', id, now(), now(), '{}' FROM auth_user
             WHERE username = 'jane'
            """
        )
        cursor.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(READER)
            )
        )
    return SOURCE_DB


def _unmount():
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        cursor.execute(sql.SQL("DROP SERVER IF EXISTS {} CASCADE").format(sql.Identifier(SERVER)))


@pytest.fixture
def mount_env(transactional_db, source, settings):
    """A clean slate for the mount (no server, no schema) and the URL in the settings."""
    _unmount()
    settings.MICROMASTERS_DATABASE_URL = _url()
    yield settings
    _unmount()


def run(*args) -> tuple[str, str]:
    """Run the command on the test schema and server; return its stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command(
        "setup_micromasters_fdw",
        "--schema",
        SCHEMA,
        "--server-name",
        SERVER,
        *args,
        stdout=out,
        stderr=err,
        no_color=True,
    )
    return out.getvalue(), err.getvalue()


def fails(*args) -> tuple[CommandError, str, str]:
    """Run the command expecting a CommandError; return it with the captured output."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command(
            "setup_micromasters_fdw",
            "--schema",
            SCHEMA,
            "--server-name",
            SERVER,
            *args,
            stdout=out,
            stderr=err,
            no_color=True,
        )
    return excinfo.value, out.getvalue(), err.getvalue()


def query(statement: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def server_options() -> dict[str, str]:
    rows = query("SELECT srvoptions FROM pg_foreign_server WHERE srvname = %s", [SERVER])
    return dict(option.split("=", 1) for option in rows[0][0]) if rows else {}


def assert_no_password(*texts: str, password: str = PASSWORD) -> None:
    for text in texts:
        for form in (password, quote(password, safe=""), quote(password)):
            assert form not in text


def test_mounts_the_tables_idempotently(mount_env):
    out, err = run()
    assert f"postgres://{READER}:***@127.0.0.1:" in out
    assert_no_password(out, err)
    assert query(f"SELECT username FROM {SCHEMA}.auth_user ORDER BY id") == [
        ("jane",),
        ("arjun",),
    ]
    assert query(f"SELECT uid FROM {SCHEMA}.social_auth_usersocialauth") == [("jane-mitx",)]
    mounted = {
        name
        for (name,) in query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'f'",
            [SCHEMA],
        )
    }
    assert mounted == set(fdw.required_tables())
    options = server_options()
    assert options["fetch_size"] == "10000"
    assert options["use_remote_estimate"] == "true"
    assert options["dbname"] == SOURCE_DB

    out, _ = run()
    assert "up to date" in out
    assert f"{len(mounted)} already mounted" in out
    assert query(f"SELECT count(*) FROM {SCHEMA}.auth_user") == [(2,)]


def test_naive_tuning_for_benchmarks_and_back(mount_env):
    run("--fetch-size", "100", "--no-remote-estimate")
    assert server_options()["fetch_size"] == "100"
    assert server_options()["use_remote_estimate"] == "false"
    out, _ = run("--check")
    assert "not tuned for bulk reads" in out
    out, _ = run()
    assert "fetch_size 100 -> 10000" in out
    assert server_options()["use_remote_estimate"] == "true"


def test_check_reports_version_and_counts(mount_env):
    run()
    out, err = run("--check")
    assert "Remote: PostgreSQL 15" in out
    assert "auth_user" in out
    counts = dict(
        line.split()
        for line in out.splitlines()
        if line.startswith("  ") and line.split()[0] in fdw.KEY_TABLES and len(line.split()) == 2
    )
    assert counts["auth_user"] == "2"
    assert counts["social_auth_usersocialauth"] == "1"
    assert counts["grades_finalgrade"] == "0"
    assert f"All {len(fdw.required_tables())} tables the import needs are mounted." in out
    assert "password ***" in out
    assert_no_password(out, err)


def test_check_reports_missing_tables_and_fails(mount_env, source):
    run()
    query(f"DROP FOREIGN TABLE {SCHEMA}.grades_finalgrade")
    with _admin_connect(SOURCE_DB) as admin:
        admin.execute("DROP TABLE ecommerce_line")
    error, out, _ = fails("--check")
    assert error.returncode == 2
    assert "grades_finalgrade" in str(error)
    assert "ecommerce_line" in str(error)
    assert "not mounted: grades_finalgrade" in out
    assert "missing on the remote schema public" in out

    # A rerun mounts what the remote has and says what it lacks.
    error, out, _ = fails()
    assert "lacks" in str(error)
    assert "ecommerce_line" in str(error)
    assert query(f"SELECT count(*) FROM {SCHEMA}.grades_finalgrade") == [(0,)]


def test_check_without_a_mount(mount_env):
    error, out, _ = fails("--check")
    assert error.returncode == 2
    assert f'server "{SERVER}" does not exist' in out


def test_refresh_picks_up_remote_changes(mount_env):
    run()
    with _admin_connect(SOURCE_DB) as admin:
        admin.execute("ALTER TABLE auth_user ADD COLUMN nickname text")
    assert "nickname" not in {c for (c,) in query(_columns_sql(), [SCHEMA, "auth_user"])}
    out, _ = run("--refresh")
    assert "re-imported" in out
    assert "nickname" in {c for (c,) in query(_columns_sql(), [SCHEMA, "auth_user"])}


def _columns_sql() -> str:
    return (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s"
    )


def test_drop_removes_schema_mapping_and_server(mount_env):
    run()
    out, _ = run("--drop")
    assert "dropped" in out
    assert query("SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA]) == []
    assert query("SELECT 1 FROM pg_foreign_server WHERE srvname = %s", [SERVER]) == []
    assert query("SELECT 1 FROM pg_user_mappings WHERE srvname = %s", [SERVER]) == []
    assert query("SELECT 1 FROM pg_extension WHERE extname = 'postgres_fdw'") == [(1,)]
    out, _ = run("--drop")
    assert "not there" in out


def test_drop_refuses_a_schema_with_plain_tables(mount_env):
    query(f"CREATE SCHEMA {SCHEMA}")
    query(f"CREATE TABLE {SCHEMA}.auth_user (id int)")
    error, _, _ = fails("--drop")
    assert error.returncode == 2
    assert "not foreign tables" in str(error)
    assert query("SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA]) == [(1,)]


def test_wrong_password_is_explained_without_echoing_it(mount_env):
    run()
    mount_env.MICROMASTERS_DATABASE_URL = _url(WRONG_PASSWORD)
    error, out, err = fails()
    assert error.returncode == 2
    assert "refused the password" in str(error)
    assert "MICROMASTERS_DATABASE_URL" in str(error)
    assert f"postgres://{READER}:***@" in out
    assert_no_password(str(error), out, err, password=WRONG_PASSWORD)
    assert "\n" not in str(error)
    # The failed run was rolled back: the working mount (and its password) is intact.
    assert query(f"SELECT count(*) FROM {SCHEMA}.auth_user") == [(2,)]


def test_wrong_password_exit_code_and_output_of_the_real_command(mount_env):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MICROMASTERS_DATABASE_URL": _url(WRONG_PASSWORD),
    }
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "setup_micromasters_fdw",
            "--schema",
            SCHEMA,
            "--server-name",
            SERVER,
            "--no-color",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CommandError: MicroMasters at 127.0.0.1" in result.stderr
    assert "refused the password" in result.stderr
    assert f"postgres://{READER}:***@127.0.0.1" in result.stdout
    assert_no_password(result.stdout, result.stderr, password=WRONG_PASSWORD)


def test_missing_database_and_unreachable_host(mount_env):
    mount_env.MICROMASTERS_DATABASE_URL = _url(dbname="no_such_mm_db")
    error, out, err = fails()
    assert 'database "no_such_mm_db" does not exist' in str(error)
    assert_no_password(str(error), out, err)
    _unmount()
    mount_env.MICROMASTERS_DATABASE_URL = _url(port=1)
    error, out, err = fails()
    assert "cannot reach MicroMasters at 127.0.0.1:1" in str(error)
    assert_no_password(str(error), out, err)


def test_missing_or_malformed_url(mount_env):
    mount_env.MICROMASTERS_DATABASE_URL = None
    error, _, _ = fails()
    assert error.returncode == 2
    assert "MICROMASTERS_DATABASE_URL is not set" in str(error)
    # An unencoded "/" in the password breaks the URL; no piece of it may be shown.
    mount_env.MICROMASTERS_DATABASE_URL = "postgres://mm:12/secretpart@host/db"
    error, out, err = fails()
    assert "percent-encode" in str(error)
    assert "secretpart" not in str(error) + out + err


def test_non_superuser_needs_a_password(mount_env):
    mount_env.MICROMASTERS_DATABASE_URL = _url(password=None)
    query(sql.SQL("SET ROLE {}").format(sql.Identifier(LOCAL_ROLE)))
    try:
        error, _, _ = fails()
    finally:
        query("RESET ROLE")
    assert error.returncode == 2
    assert "not a superuser" in str(error)
    assert "password_required 'false'" in str(error)


def test_non_superuser_mounts_with_a_password(mount_env, source_server):
    role = sql.Identifier(LOCAL_ROLE)
    query(sql.SQL("GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO {}").format(role))
    query(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(source_server), role))
    query(sql.SQL("SET ROLE {}").format(role))
    try:
        out, err = run()
        rows = query(f"SELECT count(*) FROM {SCHEMA}.auth_user")
        run("--drop")
    finally:
        query("RESET ROLE")
    assert rows == [(2,)]
    assert_no_password(out, err)


def test_parse_url_masks_and_decodes():
    source = fdw.parse_url(
        f"postgresql://{READER}:{quote(PASSWORD, safe='')}@db.example.org:6543/mm?sslmode=require"
    )
    assert source.password == PASSWORD
    assert (source.host, source.port, source.dbname) == ("db.example.org", 6543, "mm")
    assert source.server_options == {"sslmode": "require"}
    assert source.masked() == (f"postgresql://{READER}:***@db.example.org:6543/mm?sslmode=require")
    assert PASSWORD not in repr(source)
    assert fdw.scrub(f"oops {quote(PASSWORD, safe='')} and {PASSWORD}\n", source.secrets()) == (
        "oops *** and ***"
    )


def _import_fails(*args) -> CommandError:
    with pytest.raises(CommandError) as excinfo:
        call_command(
            "import_micromasters_data",
            "--source-schema",
            SCHEMA,
            "--noinput",
            *args,
            stdout=StringIO(),
            stderr=StringIO(),
            no_color=True,
        )
    return excinfo.value


def test_the_import_says_why_it_cannot_connect(mount_env):
    # Issue 11, finding 8: a wrong stored password read only "could not connect to server",
    # like an unreachable host.
    run()
    CourseIdFactory()  # so that step 002's only preflight problem is the source itself
    server = sql.Identifier(SERVER)
    query(
        sql.SQL("ALTER USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS (SET password {})").format(
            server, sql.Literal(WRONG_PASSWORD)
        )
    )
    error = _import_fails("--num", "002")
    assert error.returncode == 2
    assert str(error) == (
        "Preflight failed, nothing was run: reading the MicroMasters source failed: "
        f"MicroMasters at 127.0.0.1:{connection.settings_dict['PORT'] or 5432} refused the "
        f'password for user "{READER}": fix the password in MICROMASTERS_DATABASE_URL (the '
        "mount uses what ./manage.py setup_micromasters_fdw stored: fix "
        "MICROMASTERS_DATABASE_URL, then re-run it)"
    )
    # The same explanation when the source fails once the run has begun (after preflight).
    with pytest.raises(runner.StagingFailed) as staging_failed:
        runner.Runner(steps=select(discover(), ["002"]), run_by="test", schema=SCHEMA).run()
    assert f'refused the password for user "{READER}"' in str(staging_failed.value)
    assert ImportRun.objects.get().error == str(staging_failed.value)
    assert_no_password(str(error), str(staging_failed.value), password=WRONG_PASSWORD)

    run()  # the right password again
    query(sql.SQL("ALTER SERVER {} OPTIONS (SET dbname 'no_such_mm_db')").format(server))
    error = _import_fails("--num", "002")
    assert 'database "no_such_mm_db" does not exist on 127.0.0.1' in str(error)

    query(sql.SQL("ALTER SERVER {} OPTIONS (SET port '1')").format(server))
    error = _import_fails("--num", "002")
    assert "cannot reach MicroMasters at 127.0.0.1:1 from the MITx Online database" in str(error)
    assert_no_password(str(error))
