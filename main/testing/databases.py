"""Sessions of their own on the test server, for tests that need more than Django's connection.

A second operator's terminal, a superuser creating databases and roles, a postgres_fdw source
database: each is a plain psycopg connection, in autocommit, as the test's own role.
"""

import os

import psycopg
from django.db import connection


def connect(dbname: str | None = None, **kwargs) -> psycopg.Connection:
    """An autocommit session on `dbname` (by default the test database itself)."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=dbname or db["NAME"],
        autocommit=True,
        **kwargs,
    )


def belongs_to_a_gone_run(name: str, pattern) -> bool:
    """Whether a cluster-wide name (`prefix_<pid>`) is this run's, or a run's whose process ended.

    Databases and roles outlive a crashed test run; sweeping the ones whose process is gone
    (and never another live run's) keeps parallel runs on one server apart.
    """
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
