"""Tests of the per-column fingerprint hashes: every type hashes every value, NULL and
infinities included, to something fixed, and only through functions postgres_fdw can ship.

That the source and the staged copy agree, and that any changed value changes a fingerprint,
is checked through a real mount in mount/fdw_test.py.
"""

import re

import pytest
from django.db import connection

from micromasters_import.engine import hashing

pytestmark = pytest.mark.django_db

# Per type: two different values, as SQL literals (a number and its opposite: numeric's own
# hash ignores the sign).
VALUES = {
    "int2": ("2", "-2"),
    "int4": ("2", "-2"),
    "int8": ("9000000000", "-9000000000"),
    "oid": ("1", "2"),
    "text": ("'a'", "'b'"),
    "varchar": ("'a'", "'a '"),
    "bpchar": ("'a'", "'b'"),
    "name": ("'a'", "'b'"),
    "char": ("'a'", "'b'"),
    "numeric": ("1.5", "-1.5"),
    "float4": ("1.5", "-1.5"),
    "float8": ("1.5", "-1.5"),
    "jsonb": ("'{\"a\": 1}'", "'[1]'"),
    "uuid": ("'00000000-0000-0000-0000-000000000001'", "'00000000-0000-0000-0000-000000000002'"),
    "timestamp": ("'2020-01-01 00:00:00'", "'2020-01-01 00:00:00.000001'"),
    "timestamptz": ("'2020-01-01 00:00:00+00'", "'2020-01-01 00:00:00.000001+00'"),
    "interval": ("'1 day'", "'1 second'"),
    "time": ("'01:00'", "'02:00'"),
    "timetz": ("'01:00+00'", "'01:00+01'"),
    "inet": ("'10.0.0.1'", "'10.0.0.2'"),
    "cidr": ("'10.0.0.0/8'", "'10.0.0.0/16'"),
    "date": ("'2020-01-01'", "'2020-01-02'"),
    "bool": ("true", "false"),
    None: ("'{1}'::int4[]", "'{2}'::int4[]"),  # no hash of its own: the generic one
}
INFINITE = {
    "timestamptz": ("'infinity'", "'-infinity'"),
    "date": ("'infinity'", "'-infinity'"),
}


def _hash(value: str, kind: str | None, seed: int, nullable: bool = True) -> int | None:
    typed = f'({value})::pg_catalog."{kind}"' if kind else value
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + hashing.template(kind, seed, nullable).format(typed))
        return cursor.fetchone()[0]


def test_every_type_hashes_values_apart_and_null_to_a_value_of_each_seed():
    assert set(VALUES) == {*hashing.FUNCTIONS, *hashing.ARITHMETIC, None}
    for kind, (first, second) in VALUES.items():
        null = f'NULL::pg_catalog."{kind}"' if kind else "NULL::int4[]"
        hashes = {
            "first": _hash(first, kind, 3),
            "second": _hash(second, kind, 3),
            "first, another seed": _hash(first, kind, 4),
            "NULL": _hash(null, kind, 3),
            "NULL, another seed": _hash(null, kind, 4),
        }
        assert None not in hashes.values(), (kind, hashes)
        assert len(set(hashes.values())) == len(hashes), (kind, hashes)
        assert hashes["NULL"] == hashing.null_hash(3), kind
        assert _hash(first, kind, 3) == hashes["first"], kind  # fixed


def test_infinite_dates_and_timestamps_hash_and_apart():
    for kind, values in INFINITE.items():
        hashes = [_hash(value, kind, 1) for value in (*values, *VALUES[kind])]
        assert None not in hashes, kind
        assert len(set(hashes)) == len(hashes), kind


def test_a_value_known_not_to_be_null_is_not_tested_for_it():
    """A decided value's expression (a CASE of JSON tests) is computed once per row."""
    assert "IS NULL" not in hashing.template("int4", 1, nullable=False)
    assert _hash("5", "int4", 1, nullable=False) == _hash("5", "int4", 1)
    assert _hash("NULL", "int4", 1, nullable=False) is None


def test_every_hash_is_immutable_and_without_coalesce():
    """What postgres_fdw ships: immutable functions, operators and casts (and no COALESCE,
    which it does not deparse). The planner folds an expression of constants to a constant
    only when everything in it is immutable (a time zone's conversion would stay)."""
    assert "coalesce" not in " ".join(hashing.template(kind, 0) for kind in VALUES).lower()
    with connection.cursor() as cursor:
        for kind, (value, _) in VALUES.items():
            typed = f'({value})::pg_catalog."{kind}"' if kind else value
            cursor.execute("EXPLAIN VERBOSE SELECT " + hashing.template(kind, 1).format(typed))
            output = next(line for (line,) in cursor.fetchall() if "Output:" in line)
            assert re.fullmatch(r"\s*Output: '-?\d+'::bigint", output), (kind, output)
        cursor.execute(
            "EXPLAIN VERBOSE SELECT hashint8extended(extract(epoch from now())::bigint, 1)"
        )
        assert "now()" in " ".join(line for (line,) in cursor.fetchall())


def test_the_null_hashes_are_distinct_non_negative_bigints():
    nulls = [hashing.null_hash(seed) for seed in range(64)]
    assert len(set(nulls)) == len(nulls)
    assert all(0 <= null < 2**63 for null in nulls)


def test_column_types_are_the_base_types_in_pg_catalog():
    with connection.cursor() as cursor:
        cursor.execute("CREATE DOMAIN pg_temp.positive AS int4 CHECK (VALUE > 0)")
        cursor.execute(
            "CREATE TEMP TABLE hashed (a varchar(3), b pg_temp.positive, c timestamptz, d int8[])"
        )
        cursor.execute("ALTER TABLE hashed DROP COLUMN d")
        assert hashing.column_types(cursor, "pg_temp", "hashed") == {
            "a": "varchar",
            "b": "int4",
            "c": "timestamptz",
        }
        assert hashing.column_types(cursor, None, "hashed") == {
            "a": "varchar",
            "b": "int4",
            "c": "timestamptz",
        }
        assert hashing.column_types(cursor, "pg_temp", "no_such_table") == {}
