"""Staging never fails on a malformed source value: it keeps the row and flags the value.

One cached enrollment whose `is_active` was "maybe" used to abort staging (a cast to boolean),
so nothing at all was imported. The cached enrollments are the bulk of the source, and their
JSON is read on the source side through postgres_fdw (the "pushdown" copy); that fast path
must stay, and must classify a malformed value instead of breaking on it.
"""

import os
import re

import pytest
from django.db import connection, transaction
from psycopg import sql

from micromasters_import.engine import staging
from micromasters_import.source.factories import (
    MMCachedEnrollmentFactory,
    MMProgramEnrollmentFactory,
    MMUserFactory,
)
from micromasters_import.testing.loopback import loopback_mount as mount_back

# (data, staged is_active as JSON text (its value, never cast), staged mode)
DOCUMENTS = [
    ({"is_active": True, "mode": "verified"}, "true", "verified"),
    ({"is_active": False, "mode": "audit"}, "false", "audit"),
    ({"is_active": "maybe", "mode": "audit"}, '"maybe"', "audit"),
    ({"is_active": "true", "mode": "honor"}, '"true"', "honor"),
    ({"is_active": 1, "mode": "audit"}, "1", "audit"),
    ({"is_active": None, "mode": None}, "null", None),
    ({"mode": "masters"}, None, "masters"),  # no is_active key
    ({"is_active": True, "mode": "bogus-mode"}, "true", "bogus-mode"),
    ({"is_active": True, "mode": "v" * 300}, "true", "v" * 300),
    ({"is_active": True, "mode": 7}, "true", "7"),
    ({"is_active": True}, "true", None),
]
TABLE = staging.STAGED_TABLES["mm_cachedenrollment"]


def _make_documents():
    return [MMCachedEnrollmentFactory(data=data).id for data, *_ in DOCUMENTS]


def _staged(ids) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, is_active::text, mode FROM mm_cachedenrollment ORDER BY id")
        rows = cursor.fetchall()
    return [row for row in rows if row[0] in ids]


def _expected(ids) -> list[tuple]:
    return [(id_, *values) for id_, (_data, *values) in zip(ids, DOCUMENTS, strict=True)]


@pytest.mark.parametrize("remote", [False, True], ids=["plain", "pushdown-statements"])
def test_malformed_values_are_kept_and_flagged_not_cast(mm, remote):
    ids = _make_documents()

    with connection.cursor() as cursor:
        for statement, params in staging.copy_statements(TABLE, mm, remote=remote):
            cursor.execute(statement, params or None)

    assert _staged(ids) == _expected(ids)


# -- through a real postgres_fdw mount -----------------------------------------------------------

RUN = str(os.getpid())
SERVER = f"mm_staging_loopback_{RUN}"
MOUNT = f"mm_staging_mount_{RUN}"


@pytest.fixture
def loopback_mount(mm_transactional):
    """The test database's own source schema, mounted back into it through postgres_fdw."""
    with mount_back(
        mm_transactional, SERVER, MOUNT, ("dashboard_cachedenrollment",), fetch_size="10000"
    ) as schema:
        yield schema


@pytest.mark.fdw
def test_through_the_mount_the_json_is_read_on_the_source_and_malformed_values_flagged(
    loopback_mount,
):
    ids = _make_documents()  # committed: the mount reads through another session

    with transaction.atomic(), connection.cursor() as cursor:
        assert staging.is_foreign(cursor, loopback_mount, TABLE.source)
        staging.stage(cursor, {"mm_cachedenrollment"}, loopback_mount)
        staged = _staged(ids)
        # The fast path still ships: the copy's query runs on the source whole, and only
        # the computed values come back, not the JSON documents.
        select = staging._pushdown_select(
            TABLE,
            sql.SQL("{}.{}").format(sql.Identifier(loopback_mount), sql.Identifier(TABLE.source)),
            sql.SQL(""),
        )
        with staging.local_aggregation_disabled(cursor, True):
            cursor.execute(sql.SQL("EXPLAIN (VERBOSE, COSTS OFF) ") + select)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        staging.drop(cursor, ["mm_cachedenrollment"])

    assert staged == _expected(ids)
    assert plan.lstrip().startswith("Foreign Scan")
    assert "Relations: Aggregate on" in plan
    remote_sql = next(line for line in plan.splitlines() if "Remote SQL" in line)
    select_list = remote_sql.split(" FROM ")[0]
    assert "GROUP BY" in remote_sql
    # No document comes back: only the stand-ins and the document's fingerprint hash (its
    # NULL test and its jsonb hash, see hashing.py).
    hashed = re.compile(r"(?<!jsonb_hash_extended\()\bdata\b(?!\s*@>)(?!\s+IS NULL)")
    assert hashed.search(select_list) is None
    assert "jsonb_hash_extended(data, " in select_list


def test_a_copy_narrowed_to_buckets_holds_their_learners_rows_and_no_one_elses(mm):
    """The source is asked for the buckets' user ids (through its index), exactly."""
    users = [MMUserFactory() for _ in range(8)]
    for user in users:
        MMProgramEnrollmentFactory(user=user)
    chosen = [user for user in users if user.id % 4 == 1]
    also = next(user for user in users if user.id % 4 == 2)
    buckets = staging.Buckets(4, (1,), (also.id,))
    table = staging.STAGED_TABLES["mm_programenrollment"]
    with connection.cursor() as cursor:
        ids = staging.bucket_ids(cursor, staging.SOURCE_SCHEMA, table, buckets)
        staging.stage(cursor, {"mm_programenrollment"}, buckets=buckets)
        cursor.execute("SELECT user_id FROM mm_programenrollment ORDER BY user_id")
        staged = [row[0] for row in cursor.fetchall()]

    assert staged == sorted([user.id for user in chosen] + [also.id])
    assert all(user_id % 4 == 1 or user_id == also.id for user_id in ids)
    assert {user.id for user in chosen} <= set(ids)
