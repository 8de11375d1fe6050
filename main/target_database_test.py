"""`migrate` refuses a database that is not the kind MITXONLINE_TARGET names, writing nothing.

The cases that need MITx Online's own database are in real_mitxonline_test.py; these are the
ones a scratch database shows: a wrong setting, a foreign users table, and stand-ins built by
an older migration history of this project.
"""

import os
import subprocess
import sys

import pytest

from main.testing import mitxonline_database as real

SCRATCH = f"test_target_scratch_{os.getpid()}"


@pytest.fixture
def scratch(django_db_setup):
    real.create_database(SCRATCH)
    yield SCRATCH
    real.drop_database(SCRATCH)


def migrate(target=None):
    env = {**os.environ, "DATABASE_URL": real.url(SCRATCH)}
    env.pop("MITXONLINE_TARGET", None)
    if target:
        env["MITXONLINE_TARGET"] = target
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=real.PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def refused(result):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def tables():
    with real.admin_connect(SCRATCH) as conn:
        return sorted(real.schema_snapshot(conn))


def test_an_unknown_target_is_refused(scratch):
    line = refused(migrate("production"))
    assert "MITXONLINE_TARGET is 'production'" in line
    assert tables() == []


def test_a_users_table_this_project_did_not_create_is_refused(scratch):
    with real.admin_connect(SCRATCH) as conn:
        conn.execute("CREATE TABLE users_user (id integer PRIMARY KEY, username text)")
    line = refused(migrate())
    assert "users_user table that this project's migrations did not create" in line
    assert tables() == ["users_user"]


def test_standins_from_an_older_history_are_refused_with_the_way_out(scratch):
    assert migrate().returncode == 0
    with real.admin_connect(SCRATCH) as conn:
        conn.execute(
            """INSERT INTO django_migrations (app, name, applied)
               VALUES ('micromasters_import', '0001_initial', now())"""
        )
        before = real.schema_snapshot(conn)
    line = refused(migrate())
    assert "micromasters_import.0001_initial is no longer one of its migrations" in line
    with real.admin_connect(SCRATCH) as conn:
        assert real.schema_snapshot(conn) == before


def test_an_empty_database_gets_the_standins_and_a_second_migrate_does_nothing(scratch):
    first = migrate()
    assert first.returncode == 0, first.stderr
    assert {"users_user", "courses_courserun", "wagtailcore_revision", "b2b_contractpage"} <= set(
        tables()
    )
    assert "No migrations to apply." in migrate().stdout
