"""The import session's own settings: set for the run, put back after it."""

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from micromasters_import.engine import lock

pytestmark = pytest.mark.django_db(transaction=True)


def settings(conn, *names) -> list[str]:
    with conn.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), list(names))
        return list(cursor.fetchone())


def test_the_run_turns_jit_off_and_raises_work_mem_then_puts_them_back():
    conn = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        before = settings(conn, "jit", "work_mem")
        assert before != ["off", "64MB"]
        with lock.import_lock(conn):
            assert settings(conn, "jit", "work_mem") == ["off", "64MB"]
        assert settings(conn, "jit", "work_mem") == before
    finally:
        conn.close()


def test_temp_buffers_are_raised_only_in_a_session_without_temporary_tables():
    fresh = connections.create_connection(DEFAULT_DB_ALIAS)
    used = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with lock.import_lock(fresh):
            assert settings(fresh, "temp_buffers") == [lock.TEMP_BUFFERS]
        # PostgreSQL cannot lower them once temporary tables exist: they stay raised.
        assert settings(fresh, "temp_buffers") == [lock.TEMP_BUFFERS]

        with used.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE already_here (id int)")
            cursor.execute("INSERT INTO already_here VALUES (1)")  # its buffers are in use
        before = settings(used, "temp_buffers")
        with lock.import_lock(used):  # no error: the session keeps what it has
            assert settings(used, "temp_buffers") == before
    finally:
        fresh.close()
        used.close()


def test_a_temporary_table_of_a_rolled_back_transaction_does_not_stop_the_run():
    """It leaves no temporary schema, yet PostgreSQL no longer lets temp_buffers change: the run
    keeps the session's size (a dry run, or an explain, in the same process does this)."""
    conn = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with conn.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("CREATE TEMP TABLE rolled_back (id int)")
            cursor.execute("INSERT INTO rolled_back VALUES (1)")
            cursor.execute("ROLLBACK")
            cursor.execute("SELECT pg_my_temp_schema()::int")
            assert cursor.fetchone()[0] == 0
        before = settings(conn, "temp_buffers")
        with lock.import_lock(conn):
            assert settings(conn, "temp_buffers", "jit") == [*before, "off"]
    finally:
        conn.close()
