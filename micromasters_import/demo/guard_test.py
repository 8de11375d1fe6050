"""Tests of the demo's guard: it never writes fake learners into a real MITx Online.

Each refusal is checked the way an operator would meet it (exit code 2 and a one-line
message) and for what matters most: every table, sequence, database and role is exactly as
it was. The demo's own database, rebuilt after a run, must still be accepted, and the
override flag must let the demo through.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql

from courses.factories import CourseFactory, ProgramFactory
from ecommerce.factories import OrderFactory
from micromasters_import.demo import catalog, guard
from micromasters_import.demo.database import MARKER, Server
from micromasters_import.demo.demo_test import READER, SOURCE_DB, _admin, _sweep
from micromasters_import.demo.target import build_target
from micromasters_import.source.tables import quote_ident
from micromasters_import.testing.commands import create_demo
from users.factories import UserFactory
from users.models import User

PROJECT = Path(__file__).resolve().parents[2]
DEMO_LEARNER = r"^[a-z]+_[a-z]+_[0-9]+$"


@pytest.fixture
def no_leftovers():
    """This run's source database and reader role are removed before and after the test."""
    _sweep()
    yield
    _sweep()


def snapshot() -> dict:
    """Every public table's row count and digest, every sequence, this run's database and role."""
    state = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        for (table,) in cursor.fetchall():
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f" FROM public.{quote_ident(table)} t"
            )
            state[table] = cursor.fetchone()
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        )
        state["sequences"] = sorted(cursor.fetchall())
        # Other test runs share the server: only this run's names are compared.
        cursor.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = %s",
            [SOURCE_DB],
        )
        state["databases"] = cursor.fetchall()
        cursor.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
            [READER],
        )
        state["roles"] = cursor.fetchall()
    return state


def demo(**options) -> str:
    """Run create_micromasters_demo on a small scale into this run's source database."""
    return create_demo(**{"users": 20, "source_database": SOURCE_DB, **options})[0]


def refused(**options) -> str:
    """The command's refusal: exit code 2 and one line; returns the message."""
    with pytest.raises(CommandError) as error:
        demo(**options)
    assert error.value.returncode == 2
    message = str(error.value)
    assert "\n" not in message
    return message


def demo_learner() -> User:
    """A learner the demo made."""
    return User.objects.filter(username__regex=DEMO_LEARNER).order_by("id").first()


def real_user():
    return UserFactory(username="jdoe", email="jdoe@mit.edu")


def real_course():
    return CourseFactory(readable_id="course-v1:MITxT+18.01x")


def real_program():
    return ProgramFactory(readable_id="program-v1:MITx+FIN")


def real_order():
    """An order a demo learner placed on MITx Online itself, not imported from MicroMasters."""
    return OrderFactory(purchaser=demo_learner(), reference_number="mitxonline-production-17")


def real_admin():
    """An `admin` account that scripts/demo did not make."""
    return UserFactory(username="admin", email="it@mit.edu")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make", "table"),
    [
        (real_user, "users_user"),
        (real_admin, "users_user"),
        (real_course, "courses_course"),
        (real_program, "courses_program"),
        (real_order, "ecommerce_order"),
    ],
)
def test_one_real_looking_row_makes_the_command_refuse_and_change_nothing(make, table):
    build_target(50, 1)
    assert guard.refusal() is None  # the demo's own rows alone are accepted
    row = make()
    before = snapshot()

    message = refused()

    assert message.startswith(
        f'refusing to write demo data into database "{connection.settings_dict["NAME"]}"'
    )
    assert f"{table} id {row.id})" in message
    assert guard.OVERRIDE_FLAG in message
    assert snapshot() == before


@pytest.mark.django_db
def test_an_imported_order_of_a_demo_learner_and_the_demo_admin_are_the_demos_own():
    build_target(50, 1)
    OrderFactory(imported=True, purchaser=demo_learner())
    UserFactory(username="admin", email=guard.DEMO_ADMIN_EMAIL)
    assert guard.rows_not_made_by_demo() == {}
    # The same order placed by someone else, or with another reference number, is not.
    other = OrderFactory(imported=True)
    assert set(guard.rows_not_made_by_demo()) == {"users_user", "ecommerce_order"}
    assert guard.rows_not_made_by_demo()["ecommerce_order"] == [other.id]


@pytest.mark.django_db
def test_the_refusal_names_a_few_ids_and_no_personal_data():
    users = [UserFactory(email=f"learner{n}@mit.edu") for n in range(5)]
    message = refused()
    ids = ", ".join(str(user.id) for user in users[:3])
    assert f"users_user id {ids}, ...)" in message
    assert "@" not in message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("settings_change", "reason"),
    [
        ({"MICROMASTERS_IMPORT_STANDINS": None}, "MICROMASTERS_IMPORT_STANDINS is not set"),
        ({"MICROMASTERS_IMPORT_STANDINS": False}, "MICROMASTERS_IMPORT_STANDINS is not set"),
        ({"MITXONLINE_TARGET": "mitxonline"}, 'MITXONLINE_TARGET is "mitxonline"'),
    ],
)
def test_mitxonline_itself_is_refused_even_when_empty(settings, settings_change, reason):
    for name, setting in settings_change.items():
        if setting is None:
            delattr(settings, name)
        else:
            setattr(settings, name, setting)
    before = snapshot()
    message = refused()
    assert reason in message
    assert snapshot() == before
    # Checking alone gives the same answer.
    assert reason in refused(check_only=True)


@pytest.mark.django_db
def test_the_standins_and_an_explicit_target_are_accepted(settings):
    settings.MITXONLINE_TARGET = "standins"
    assert guard.mitxonline_itself() is None
    assert guard.refusal() is None


@pytest.mark.django_db
def test_a_source_database_the_demo_did_not_make_is_never_dropped(no_leftovers):
    with _admin("postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SOURCE_DB)))
    with _admin(SOURCE_DB) as conn:
        conn.execute("CREATE TABLE precious (id int)")
        conn.execute("INSERT INTO precious VALUES (42)")
    before = snapshot()

    for flags in ({}, {"allow_real_database": True}, {"check_only": True}):
        message = refused(**flags)
        assert message == (
            f'database "{SOURCE_DB}" exists and was not made by create_micromasters_demo: '
            "refusing to touch it (choose another --source-database)"
        )

    assert snapshot() == before
    with _admin(SOURCE_DB) as conn:
        assert conn.execute("SELECT id FROM precious").fetchall() == [(42,)]


@pytest.mark.django_db
def test_a_reader_role_the_demo_did_not_make_is_refused_before_anything_is_written(
    no_leftovers, monkeypatch
):
    monkeypatch.setenv("DEMO_READER_PASSWORD", "Demo#Reader/pw:1")
    with _admin("postgres") as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(READER)))
    before = snapshot()
    message = refused(reader=READER)
    assert message.startswith(f'role "{READER}" exists and was not made by')
    assert snapshot() == before  # in particular no source database was created


@pytest.mark.django_db
def test_the_demos_own_databases_are_rebuilt_as_before(no_leftovers):
    first = demo()
    assert f"MicroMasters demo database {SOURCE_DB} created" in first
    # What a run of scripts/demo and of the import adds: the admin login, imported orders.
    UserFactory(username="admin", email=guard.DEMO_ADMIN_EMAIL)
    OrderFactory(imported=True, purchaser=demo_learner())
    users = User.objects.count()

    assert "Checked:" in demo(check_only=True)
    again = demo()

    assert f"MicroMasters demo database {SOURCE_DB} replaced" in again
    assert "(everything was already there)" in again
    assert User.objects.count() == users
    with _admin("postgres") as conn:
        comment = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [SOURCE_DB],
        ).fetchone()[0]
    assert comment.startswith(MARKER)


@pytest.mark.django_db
def test_check_only_writes_nothing():
    before = snapshot()
    out = demo(check_only=True)
    assert out.startswith(
        f'Checked: the demo may fill database "{connection.settings_dict["NAME"]}"'
    )
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("standins", [True, False])
def test_the_flag_lets_the_demo_write_into_a_real_looking_database(
    no_leftovers, settings, standins
):
    settings.MICROMASTERS_IMPORT_STANDINS = standins
    jdoe = real_user()
    course = real_course()
    _, err = create_demo(users=20, source_database=SOURCE_DB, allow_real_database=True)
    assert guard.OVERRIDE_FLAG in err
    assert User.objects.filter(username__regex=DEMO_LEARNER).exists()
    assert {c.readable_id for c in catalog.mapped_courses()} < set(
        CourseFactory._meta.model.objects.values_list("readable_id", flat=True)
    )
    # What was there stays as it was.
    jdoe.refresh_from_db()
    course.refresh_from_db()
    assert (jdoe.username, jdoe.email) == ("jdoe", "jdoe@mit.edu")
    assert course.readable_id == "course-v1:MITxT+18.01x"
    with _admin(SOURCE_DB) as conn:
        assert conn.execute("SELECT count(*) FROM auth_user").fetchone()[0] == 20


@pytest.mark.django_db(transaction=True)
def test_from_the_shell_the_refusal_is_exit_code_2_and_one_line(no_leftovers):
    real_user()
    before = snapshot()
    server = Server.from_settings()
    env = {
        **os.environ,
        "DATABASE_URL": server.url(connection.settings_dict["NAME"], password=server.password),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "create_micromasters_demo", "--users", "20",
         "--source-database", SOURCE_DB, "--replace"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: refusing to write demo data into database")
    assert snapshot() == before
