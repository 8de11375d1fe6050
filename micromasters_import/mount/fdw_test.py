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
import uuid
from io import StringIO
from pathlib import Path
from urllib.parse import quote, quote_plus

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from psycopg import sql

from main.testing.databases import belongs_to_a_gone_run
from main.testing.databases import connect as _admin_connect
from micromasters_import import mount
from micromasters_import.demo.source import build_source
from micromasters_import.engine import fingerprint, hashing, runner, staging
from micromasters_import.engine.steps import discover, select
from micromasters_import.factories import CourseIdFactory
from micromasters_import.models import ImportRun
from micromasters_import.source.tables import create_source_schema
from micromasters_import.testing.statements import statements_sent

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


def _url(password: str | None = PASSWORD, dbname: str = SOURCE_DB, port=None) -> str:
    db = connection.settings_dict
    secret = f":{quote(password, safe='')}" if password else ""
    return f"postgres://{READER}{secret}@127.0.0.1:{port or db['PORT'] or 5432}/{dbname}"


def _gone(name: str, pattern: re.Pattern = LEFTOVER) -> bool:
    """Whether a name belongs to this run or to a run whose process has ended."""
    return belongs_to_a_gone_run(name, pattern)


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


def _call(out, err, *args) -> None:
    """The command on the test schema and server, its output into `out` and `err`."""
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


def run(*args) -> tuple[str, str]:
    """Run the command on the test schema and server; return its stdout and stderr."""
    out, err = StringIO(), StringIO()
    _call(out, err, *args)
    return out.getvalue(), err.getvalue()


def fails(*args) -> tuple[CommandError, str, str]:
    """Run the command expecting a CommandError; return it with the captured output."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as excinfo:
        _call(out, err, *args)
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
    assert mounted == set(mount.required_tables())
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
        if line.startswith("  ") and line.split()[0] in mount.KEY_TABLES and len(line.split()) == 2
    )
    assert counts["auth_user"] == "2"
    assert counts["social_auth_usersocialauth"] == "1"
    assert counts["grades_finalgrade"] == "0"
    assert f"All {len(mount.required_tables())} tables the import needs are mounted." in out
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
    result = _real_setup(
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}", _url(WRONG_PASSWORD)
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
    source = mount.parse_url(
        f"postgresql://{READER}:{quote(PASSWORD, safe='')}@db.example.org:6543/mm?sslmode=require"
    )
    assert source.password == PASSWORD
    assert (source.host, source.port, source.dbname) == ("db.example.org", 6543, "mm")
    assert source.server_options == {"sslmode": "require"}
    assert source.masked() == (f"postgresql://{READER}:***@db.example.org:6543/mm?sslmode=require")
    assert PASSWORD not in repr(source)
    assert mount.scrub(f"oops {quote(PASSWORD, safe='')} and {PASSWORD}\n", source.secrets()) == (
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


# --- the password and the server log (issue 11, finding 3) ---------------------------------


class ServerLog:
    """The test cluster's server log, read through the server itself from a given point.

    With the logging collector, `pg_current_logfile()` names the file; without it (as
    scripts/localpg.py starts the server) the log is the server's stderr, which every
    backend inherits, so `/proc/self/fd/2` of any backend is the log file.
    """

    def __init__(self):
        with _admin_connect("postgres") as admin:
            current = admin.execute("SELECT pg_current_logfile('stderr')").fetchone()[0]
            path = current or "/proc/self/fd/2"
            try:
                size, is_dir = admin.execute(
                    "SELECT size, isdir FROM pg_stat_file(%s)", [path]
                ).fetchone()
            except psycopg.Error as error:
                pytest.skip(f"cannot read the server log ({path}): {error}")
        if is_dir:
            pytest.skip("the server log is not a file")
        self.path = path
        self.start = size

    def since_start(self) -> str:
        with _admin_connect("postgres") as admin:
            (size,) = admin.execute("SELECT size FROM pg_stat_file(%s)", [self.path]).fetchone()
            return admin.execute(
                "SELECT convert_from(pg_read_binary_file(%s, %s, %s), 'UTF8')",
                [self.path, self.start, max(size - self.start, 0)],
            ).fetchone()[0]


def _password_forms(password: str) -> list[str]:
    return [password, quote(password, safe=""), quote_plus(password)]


@pytest.fixture
def log_password(mount_env):
    """A password used nowhere else on the cluster, so the log can be searched for it."""
    password = f"Lg{uuid.uuid4().hex[:12]}/p@ss%"
    with _admin_connect("postgres") as admin:
        admin.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(READER), sql.Literal(password)
            )
        )
    mount_env.MICROMASTERS_DATABASE_URL = _url(password)
    yield password
    with _admin_connect("postgres") as admin:
        admin.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(READER), sql.Literal(PASSWORD)
            )
        )


# Each setting that logs statements, with what it writes to the log (to know it was on).
LOGGING_SETTINGS = [
    ({"log_statement": "all"}, "statement: "),
    ({"log_min_duration_statement": "0"}, "duration: "),
    ({"log_duration": "on"}, "duration: "),
    ({"log_min_duration_sample": "0", "log_statement_sample_rate": "1"}, "sample"),
    ({"log_transaction_sample_rate": "1"}, "duration: "),
    ({"debug_print_parse": "on", "debug_print_rewritten": "on"}, "parse tree"),
]


def _role_settings(role: str, values: dict[str, str], reset: bool = False) -> None:
    """ALTER ROLE role IN DATABASE test-db SET/RESET: only this role's new sessions here."""
    with _admin_connect("postgres") as admin:
        for name, value in values.items():
            statement = (
                sql.SQL("ALTER ROLE {} IN DATABASE {} RESET {}")
                if reset
                else sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}")
            )
            admin.execute(
                statement.format(
                    sql.Identifier(role),
                    sql.Identifier(connection.settings_dict["NAME"]),
                    sql.Identifier(name),
                    *([] if reset else [sql.Literal(value)]),
                )
            )


@pytest.mark.parametrize(("logging", "logged"), LOGGING_SETTINGS)
def test_the_password_stays_out_of_the_server_log_for_a_superuser(log_password, logging, logged):
    # Issue 11, finding 3: with log_min_duration_statement = 0 the superuser's
    # ALTER USER MAPPING ... (SET "password" '...') reached the log.
    superuser = connection.settings_dict["USER"] or "postgres"
    log = ServerLog()
    _role_settings(superuser, logging)
    try:
        connection.close()  # the next session starts with the settings on
        run()  # CREATE USER MAPPING
        run()  # ALTER USER MAPPING ... SET password
    finally:
        _role_settings(superuser, logging, reset=True)
        connection.close()

    text = log.since_start()
    assert logged in text  # the setting was on and this is the log it wrote to
    for form in _password_forms(log_password):
        assert form not in text
    assert query(f"SELECT count(*) FROM {SCHEMA}.auth_user") == [(2,)]


def test_a_failing_mapping_statement_leaves_the_password_out_of_the_log(
    log_password, source_server
):
    # log_min_error_statement (at its default, error) logs a failing statement with its
    # text, and a non-superuser may not turn it off: the statement it logs holds no password.
    superuser = connection.settings_dict["USER"] or "postgres"
    role = sql.Identifier(LOCAL_ROLE)
    query(sql.SQL("GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO {}").format(role))
    query(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(source_server), role))
    query(
        "CREATE FUNCTION mm_test_refuse_mapping() RETURNS event_trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'user mappings are frozen'; END $$"
    )
    query(
        "CREATE EVENT TRIGGER mm_test_refuse_mapping ON ddl_command_end "
        "WHEN TAG IN ('CREATE USER MAPPING') EXECUTE FUNCTION mm_test_refuse_mapping()"
    )
    log = ServerLog()
    _role_settings(superuser, {"log_min_error_statement": "debug5"})
    try:
        connection.close()
        query(sql.SQL("SET ROLE {}").format(role))
        error, out, err = fails()
    finally:
        query("RESET ROLE")
        _role_settings(superuser, {"log_min_error_statement": ""}, reset=True)
        connection.close()
        query("DROP EVENT TRIGGER mm_test_refuse_mapping")
        query("DROP FUNCTION mm_test_refuse_mapping()")

    assert "user mappings are frozen" in str(error)
    text = log.since_start()
    assert "ERROR:  user mappings are frozen" in text
    assert "STATEMENT:  DO " in text  # the failing statement was logged: the DO block
    for form in _password_forms(log_password):
        assert form not in text + str(error) + out + err


def _real_setup(database_url: str, source_url: str, *args: str) -> subprocess.CompletedProcess:
    """`manage.py setup_micromasters_fdw` in a process of its own, as an operator runs it."""
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "setup_micromasters_fdw",
            "--schema",
            SCHEMA,
            "--server-name",
            SERVER,
            "--no-color",
            *args,
        ],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": database_url, "MICROMASTERS_DATABASE_URL": source_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _setup_as(role: str, role_password: str, *args: str) -> subprocess.CompletedProcess:
    """The real command as a non-superuser login, as the README recommends running it."""
    db = connection.settings_dict
    return _real_setup(
        f"postgres://{role}:{role_password}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}",
        settings.MICROMASTERS_DATABASE_URL,
        *args,
    )


@pytest.fixture
def logging_non_superuser(log_password, source_server):
    """LOCAL_ROLE as a login with a password, allowed to mount, with log_statement = 'all'."""
    role_password = uuid.uuid4().hex
    role = sql.Identifier(LOCAL_ROLE)
    query("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
    with _admin_connect("postgres") as admin:
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(role_password)))
        admin.execute(sql.SQL("ALTER ROLE {} SET log_statement = 'all'").format(role))
    query(sql.SQL("GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO {}").format(role))
    query(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(source_server), role))
    yield role_password
    with _admin_connect("postgres") as admin:
        admin.execute(sql.SQL("ALTER ROLE {} RESET log_statement").format(role))
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(role))
    query(sql.SQL("GRANT TEMP ON DATABASE {} TO PUBLIC").format(sql.Identifier(source_server)))


def test_a_non_superuser_with_statement_logging_mounts_without_logging_the_password(
    logging_non_superuser, log_password
):
    # Issue 11, finding 3: with log_statement = 'all' for the non-superuser role the README
    # recommends, CREATE USER MAPPING ... "password" '...' reached the log.
    log = ServerLog()

    result = _setup_as(LOCAL_ROLE, logging_non_superuser)

    assert result.returncode == 0, result.stderr
    text = log.since_start()
    assert "statement: COPY" in text  # log_statement = 'all' was on for that session
    for form in _password_forms(log_password):
        assert form not in text + result.stdout + result.stderr
    assert _count_as(LOCAL_ROLE) == 2


def _count_as(role: str) -> int:
    """Read through the mount as the role whose user mapping it is."""
    query(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        return query(f"SELECT count(*) FROM {SCHEMA}.auth_user")[0][0]
    finally:
        query("RESET ROLE")


def test_without_temp_a_logging_non_superuser_is_refused_unless_it_accepts_the_log(
    logging_non_superuser, log_password, source_server
):
    # Without TEMP the password could only be sent inside the statement, which
    # log_statement = 'all' (a setting the role may not change) would record.
    query(sql.SQL("REVOKE TEMP ON DATABASE {} FROM PUBLIC").format(sql.Identifier(source_server)))
    log = ServerLog()

    refused = _setup_as(LOCAL_ROLE, logging_non_superuser)

    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line == (
        "CommandError: refusing to send the MicroMasters password: log_statement = 'all' would "
        "record it in the server log; log_min_error_statement = 'error' would record it in the "
        "server log (if the statement fails), and the role "
        f'"{LOCAL_ROLE}" may not turn that off for its transaction, and it lacks the TEMP '
        "privilege the tool needs to keep the password out of the statements it sends: run "
        "setup_micromasters_fdw as a superuser, GRANT TEMP ON DATABASE "
        f'"{connection.settings_dict["NAME"]}" TO "{LOCAL_ROLE}", '
        "turn the setting off for this role, or rerun with --allow-password-in-server-log to "
        "accept it"
    )
    assert query("SELECT 1 FROM pg_foreign_server WHERE srvname = %s", [SERVER]) == []
    for form in _password_forms(log_password):
        assert form not in log.since_start() + refused.stdout + refused.stderr

    accepted = _setup_as(LOCAL_ROLE, logging_non_superuser, "--allow-password-in-server-log")

    assert accepted.returncode == 0, accepted.stderr
    assert "Warning (--allow-password-in-server-log): log_statement = 'all'" in accepted.stdout
    assert _count_as(LOCAL_ROLE) == 2
    # What the operator accepted did happen: this is the log the other tests search.
    assert log_password in log.since_start()


def test_a_password_with_quotes_and_backslashes_reaches_the_mapping_exactly(mount_env):
    password = "it's a \\back'slash\\' pass$$word"
    with _admin_connect("postgres") as admin:
        admin.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(READER), sql.Literal(password)
            )
        )
    try:
        mount_env.MICROMASTERS_DATABASE_URL = _url(password)
        out, err = run()  # CREATE USER MAPPING, through the carrier
        run()  # ALTER USER MAPPING ... SET password
        rows = query(f"SELECT count(*) FROM {SCHEMA}.auth_user")
    finally:
        with _admin_connect("postgres") as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(READER), sql.Literal(PASSWORD)
                )
            )
    assert rows == [(2,)]  # the remote accepted the stored password
    assert_no_password(out, err, password=password)


# The types of the source columns the copies hash.
SOURCE_TYPES = {"int4", "int8", "varchar", "text", "timestamptz", "float8", "numeric", "bool"}
SOURCE_TYPES |= {"date", "jsonb"}


def _hashed_columns(name: str) -> list[str]:
    """The source columns a copy's fingerprint hashes: those it keeps as they are when they
    determine it, else every column it reads."""
    table = staging.STAGED_TABLES[name]
    return fingerprint.copied_columns(table) or sorted(table.source_columns())


def _hash_function(kind: str) -> str:
    """The function that hashes a value of a type (hashing.py), as the Remote SQL names it."""
    return hashing.FUNCTIONS.get(kind) or hashing.ARITHMETIC[kind].split("(")[0]


def _source_types(name: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        return fingerprint.source_types(cursor, SCHEMA, staging.STAGED_TABLES[name])


def _mount_demo_source(users: int) -> None:
    """The demo's MicroMasters data in the source database, readable by READER, mounted."""
    with _admin_connect(SOURCE_DB) as conn, conn.transaction(), conn.cursor() as cursor:
        build_source(cursor, "public", users=users, seed=3)
        cursor.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(READER)
            )
        )
    run()


def _remote_sql(plan: str) -> list[str]:
    return [line for line in plan.splitlines() if "Remote SQL:" in line]


def test_every_source_fingerprint_is_computed_on_the_source(mount_env):
    """A fingerprint aggregate postgres_fdw cannot ship fetches every row (every JSON
    document) through the mount and aggregates here: a re-run as slow as a first one, and no
    error to say so (a hash of a text value is not shippable: its collation might differ on
    the source; nor is COALESCE). Every copy's row hash ships, each column hashed by its
    type's own function, and no fingerprint query of the cached enrollments fetches JSON
    documents row by row."""
    _mount_demo_source(users=20)
    # A condition ships whenever it can, whatever the costs (an aggregate over a handful of
    # rows may be cheaper here): a row hash that ships as a condition ships in the aggregate.
    types = set()
    with connection.cursor() as cursor:
        for name, table in staging.STAGED_TABLES.items():
            column_types = fingerprint.source_types(cursor, SCHEMA, table)
            hashed = {column_types[column] for column in _hashed_columns(name)}
            types |= hashed
            cursor.execute(
                sql.SQL("EXPLAIN VERBOSE SELECT 1 FROM {} AS t WHERE {} = 0").format(
                    sql.Identifier(SCHEMA, table.source),
                    fingerprint.source_row_hash(table, column_types, "t"),
                )
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Filter:" not in plan, plan
            (remote,) = _remote_sql(plan)
            for kind in hashed:
                assert f"{_hash_function(kind)}(" in remote, (name, kind, plan)
    # Every type a copy hashes has a hash function of its own: none falls back.
    assert types <= set(hashing.FUNCTIONS) | set(hashing.ARITHMETIC)
    assert types >= SOURCE_TYPES
    # The cached enrollments are the bulk of the source, and the copy that keeps none of its
    # JSON: each of their fingerprints, whole, split at an id, and per learner bucket.
    with (
        statements_sent(lambda text: "sum(" in text and SCHEMA in text) as queries,
        connection.cursor() as cursor,
    ):
        fingerprint.source_fingerprint(cursor, SCHEMA, "mm_cachedenrollment")
        fingerprint.split_fingerprint(cursor, SCHEMA, "mm_cachedenrollment", upto=10)
        fingerprint.source_buckets(cursor, SCHEMA, "mm_cachedenrollment")
    assert len(queries) == 3
    # On 20 learners the planner may well aggregate here because it is cheap; what must hold is
    # that it can ship: with every fetched row priced high, it ships whatever it can.
    query(
        sql.SQL("ALTER SERVER {} OPTIONS (ADD fdw_tuple_cost '1000000')").format(
            sql.Identifier(SERVER)
        )
    )
    with connection.cursor() as cursor:
        for statement, params in queries:
            cursor.execute("EXPLAIN VERBOSE " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            fetched = _remote_sql(plan)
            assert fetched, plan
            # Only sums of row hashes cross the network, computed by the types' functions.
            assert all("sum(" in line for line in fetched), plan
            assert all("hashint4extended(" in line for line in fetched), plan
            assert all("jsonb_hash_extended(" in line for line in fetched), plan
            # What must never cross the network row by row is a JSON document: a query that
            # fetches one per row instead of its hash has lost its aggregate.
            whole_documents = [
                line
                for line in fetched
                if "sum(" not in line and re.search(r"\bdata\b", line.split(" FROM ")[0])
            ]
            assert not whole_documents, plan


def test_a_copy_staged_through_the_mount_has_the_fingerprint_the_source_computes(mount_env):
    """A first run fingerprints the copies from what it staged; a re-run reads the source.

    The two must agree value for value, or the re-run would never find a step unchanged (or
    worse, the reverse). Checked on the demo's data, through a real mount, for every copy,
    the cached enrollments included (the JSON of the rows fetched whole is hashed as they are
    staged), with rows whose values the shipped stand-ins cannot decide among them.
    """
    _mount_demo_source(users=60)
    with _admin_connect(SOURCE_DB) as conn:
        # Odd values, fetched whole and recomputed after the shipped copy.
        conn.execute(
            """UPDATE dashboard_cachedenrollment SET data = data || '{"is_active": "maybe"}'
                WHERE id IN (SELECT id FROM dashboard_cachedenrollment ORDER BY id LIMIT 3)"""
        )
    with transaction.atomic(), connection.cursor() as cursor:
        staging.stage(cursor, set(staging.STAGED_TABLES), SCHEMA)
        cursor.execute("SELECT count(*) FROM mm_cachedenrollment WHERE is_active = '\"maybe\"'")
        assert cursor.fetchone()[0] == 3
        for name in staging.STAGED_TABLES:
            from_copy = fingerprint.staged_fingerprint(cursor, name, SCHEMA)
            assert from_copy == fingerprint.source_fingerprint(cursor, SCHEMA, name), name
            assert not from_copy.startswith(("0:", "unhashable")), name
        transaction.set_rollback(True)

    def enrollments_after(change: str) -> str:
        """The cached enrollments' fingerprint after a change: on the source, and staged."""
        with _admin_connect(SOURCE_DB) as conn:
            conn.execute(f"UPDATE dashboard_cachedenrollment SET data = {change}")
        with transaction.atomic(), connection.cursor() as cursor:
            on_source = fingerprint.source_fingerprint(cursor, SCHEMA, "mm_cachedenrollment")
            staging.stage(cursor, {"mm_cachedenrollment"}, SCHEMA)
            staged = fingerprint.staged_fingerprint(cursor, "mm_cachedenrollment", SCHEMA)
            assert staged == on_source
            transaction.set_rollback(True)
        return on_source

    last = "WHERE id = (SELECT max(id) FROM dashboard_cachedenrollment)"
    first = "WHERE id = (SELECT min(id) FROM dashboard_cachedenrollment)"  # a "maybe" row
    before = enrollments_after("data " + last)
    # What the copy keeps of a decided row is its is_active and mode: another key of its
    # document changes nothing a step reads, so it leaves the fingerprint as it was.
    assert enrollments_after("""data || '{"created": "x"}' """ + last) == before
    flipped = enrollments_after(
        "data || jsonb_build_object('is_active', NOT (data->>'is_active')::boolean) " + last
    )
    assert flipped != before
    # A row read exactly is fingerprinted by its whole document.
    assert enrollments_after("""data || '{"created": "y"}' """ + first) != flipped


# Per source type: a value different from the column's (a value if it is NULL) that keeps the
# row within its unique constraints and the column's length.
CHANGED = {
    "int2": "-{c} - 7",
    "int4": "-{c} - 7",
    "int8": "-{c} - 7",
    "varchar": "CASE WHEN {c} = 'z' THEN 'y' ELSE 'z' END",
    "text": "CASE WHEN {c} = 'z' THEN 'y' ELSE 'z' END",
    "timestamptz": "{c} + interval '1 microsecond'",
    "float8": "{c} + 0.25",
    "numeric": "{c} + 0.01",
    "bool": "NOT {c}",
    "date": "{c} + 1",
    "jsonb": """{c} || '{{"fingerprint_test": 1}}'""",
}
SAMPLE = {
    "int2": "7",
    "int4": "7",
    "int8": "7",
    "varchar": "'z'",
    "text": "'z'",
    "timestamptz": "'2001-02-03 04:05:06.789+00'",
    "float8": "0.25",
    "numeric": "1.5",
    "bool": "true",
    "date": "'2001-02-03'",
    "jsonb": "'{}'",
}
# What a cached enrollment's copy reads of its document is its mode (and is_active): another
# key changes nothing a step reads (see the test above).
ENROLLMENT_DATA = (
    "jsonb_set({c}, '{{mode}}', "
    """CASE WHEN {c}->>'mode' = 'audit' THEN '"verified"' ELSE '"audit"' END::jsonb)"""
)


def test_a_change_to_any_value_a_copy_reads_changes_its_fingerprint_on_both_sides(mount_env):
    """Every staged copy, every source column it hashes (each type: integers, text,
    timestamps to the microsecond, numbers, booleans, dates, JSON), a value changed, then set
    to NULL where the column allows it: the fingerprint changes, on the source and over the
    copy staged through the mount alike, whole and per learner bucket. A column no copy reads
    changes nothing. A change that went unseen would let a re-run skip a step whose input
    changed; two sides that disagree would make every re-run redo every step."""
    _mount_demo_source(users=60)

    def fingerprints(name: str) -> str:
        """The copy's fingerprint on the source, checked against the copy staged now."""
        with transaction.atomic(), connection.cursor() as cursor:
            on_source = fingerprint.source_fingerprint(cursor, SCHEMA, name)
            staging.stage(cursor, {name}, SCHEMA)
            assert fingerprint.staged_fingerprint(cursor, name, SCHEMA) == on_source, name
            if fingerprint.learner_keyed(name):
                split = fingerprint.split_fingerprint(cursor, SCHEMA, name, upto=None)
                state = fingerprint.staged_state(cursor, name, SCHEMA)
                assert state["whole"] == split["whole"] == on_source, name
                buckets = fingerprint.source_buckets(cursor, SCHEMA, name)
                assert state["buckets"] == buckets, name
            transaction.set_rollback(True)
        return on_source

    with _admin_connect(SOURCE_DB) as source:
        source.autocommit = True
        # The foreign keys are triggers: a changed id may point nowhere.
        source.execute("SET session_replication_role = replica")

        def change(table: staging.StagedTable, column: str, value: str) -> None:
            """Change one value (of the first row the copy selects where it is not NULL)."""
            where = f" AND {table.where}" if table.where else ""
            c = f'"{column}"'
            source.execute(
                f'UPDATE "{table.source}" SET {c} = {value.format(c=c)} WHERE id = '
                f'(SELECT min(id) FROM "{table.source}" WHERE {c} IS NOT NULL{where})'
            )

        changed = 0
        for name, table in staging.STAGED_TABLES.items():
            with connection.cursor() as cursor:
                types = fingerprint.source_types(cursor, SCHEMA, table)
                cursor.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 AND attnotnull",
                    [f"{SCHEMA}.{table.source}"],
                )
                not_null = {column for (column,) in cursor.fetchall()}
            before = fingerprints(name)
            assert not before.startswith(("0:", "unhashable")), name
            for column in _hashed_columns(name):
                kind = types[column]
                new = CHANGED[kind]
                if (name, column) == ("mm_cachedenrollment", "data"):
                    new = ENROLLMENT_DATA
                change(table, column, new)
                after = fingerprints(name)
                assert after != before, (name, column, kind)
                before = after
                changed += 1
                if column not in not_null:
                    change(table, column, "NULL")
                    after = fingerprints(name)
                    assert after != before, (name, column, kind, "NULL")
                    before = after
                    changed += 1
            for column in sorted(set(types) - table.source_columns()):
                change(table, column, CHANGED.get(types[column]) or "{c}")
                assert fingerprints(name) == before, (name, column, "not read")
    assert changed > 90
