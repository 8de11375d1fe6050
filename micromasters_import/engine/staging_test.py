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
    MMReceiptFactory,
    MMUserFactory,
)
from micromasters_import.testing.loopback import loopback_mount as mount_back
from micromasters_import.testing.statements import statements_sent

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


@pytest.fixture(params=[False, True], ids=["local-estimates", "remote-estimates"])
def loopback_mount(request, mm_transactional):
    """The test database's own source schema, mounted back into it through postgres_fdw,
    with postgres_fdw's default estimates or (as `setup_micromasters_fdw` mounts) the
    source's own: the planner prices the shipped and the local paths differently in each."""
    options = {"fetch_size": "10000"}
    if request.param:
        options["use_remote_estimate"] = "true"
    with mount_back(
        mm_transactional, SERVER, MOUNT, ("dashboard_cachedenrollment",), **options
    ) as schema:
        yield schema


# Where a JSON document may appear in what the source returns: as the operand of `@>` (the
# stand-ins), or returned whole by the one CASE that fetches the rows to read exactly.
FETCHED_WHOLE = "THEN data ELSE NULL::jsonb END"


@pytest.mark.fdw
def test_through_the_mount_the_json_is_read_on_the_source_and_malformed_values_flagged(
    loopback_mount,
):
    ids = _make_documents()  # committed: the mount reads through another session
    source = f'"{loopback_mount}"."{TABLE.source}"'

    with transaction.atomic(), connection.cursor() as cursor:
        assert staging.is_foreign(cursor, loopback_mount, TABLE.source)
        with statements_sent(lambda text: source in text) as reading_source:
            staging.stage(cursor, {"mm_cachedenrollment"}, loopback_mount)
        staged = _staged(ids)
        staging.drop(cursor, ["mm_cachedenrollment"])
        # The fast path still ships, whole or narrowed: the copy's query runs on the source,
        # and only the computed values come back, not the JSON documents.
        plans = {}
        narrowed = {
            "whole": {},
            "learners": {"mm_user_ids": [ids[0]]},
            "buckets": {"buckets": staging.Buckets(4, (1,))},
        }
        for label, narrowing in narrowed.items():
            _, (create, params), *_ = staging.copy_statements(
                TABLE, loopback_mount, remote=True, **narrowing
            )
            with staging.local_aggregation_disabled(cursor, True, (loopback_mount, TABLE.source)):
                cursor.execute(sql.SQL("EXPLAIN (VERBOSE, COSTS OFF) ") + create, params or None)
                plans[label] = "\n".join(line for (line,) in cursor.fetchall())

    assert staged == _expected(ids)
    # One statement reads the source, once: the odd rows' documents come with the others.
    assert len(reading_source) == 1, reading_source
    for label, plan in plans.items():
        assert plan.count("Foreign Scan") == 1, (label, plan)
        assert "Relations: Aggregate on" in plan, (label, plan)
        remote_sql = next(line for line in plan.splitlines() if "Remote SQL" in line)
        select_list = remote_sql.split(" FROM ")[0]
        assert "GROUP BY" in remote_sql, label
        assert select_list.count(FETCHED_WHOLE) == 1, (label, select_list)
        # No other document comes back: only the stand-ins, and the odd rows whole.
        rest = select_list.replace(FETCHED_WHOLE, "")
        assert re.search(r"\bdata\b(?!\s*@>)", rest) is None, (label, select_list)


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


def test_a_copy_has_statistics_of_every_column_but_its_payload(mm):
    """The planner needs statistics of what it joins, filters, groups and sorts on; a
    receipt's JSON document is only copied along (its statistics were most of the ANALYZE)."""
    for _ in range(3):
        MMReceiptFactory()
    table = staging.STAGED_TABLES["mm_receipt"]
    with connection.cursor() as cursor:
        staging.stage(cursor, {"mm_receipt"})
        cursor.execute(
            "SELECT attname FROM pg_stats WHERE tablename = 'mm_receipt'"
            " AND schemaname = pg_my_temp_schema()::regnamespace::text"
        )
        analyzed = {row[0] for row in cursor.fetchall()}

    assert table.unanalyzed == ("data",)
    assert analyzed == set(table.columns) - {"data"}
