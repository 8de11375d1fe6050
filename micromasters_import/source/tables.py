"""The MicroMasters source tables, described in Python from `schema.sql`.

`schema.sql` is the single source of truth for the source tables: the column lists here are
parsed from it, so tests, factories and a demo generator can never disagree with the DDL that
builds the tables. `create_source_schema` builds that DDL in any schema, because the same
tables are needed as `micromasters` in the test database and as `public` in a demo database.
"""

import contextlib
import re
from pathlib import Path
from typing import NamedTuple

SCHEMA_SQL = Path(__file__).with_name("schema.sql")

# The tables the import reads through the mount, in the order schema.sql creates them.
SOURCE_TABLES = (
    "auth_user",
    "social_auth_usersocialauth",
    "profiles_profile",
    "courses_program",
    "courses_course",
    "courses_courserun",
    "dashboard_cachedenrollment",
    "dashboard_programenrollment",
    "grades_finalgrade",
    "exams_examrun",
    "grades_proctoredexamgrade",
    "grades_micromasterscoursecertificate",
    "grades_micromastersprogramcertificate",
    "financialaid_tier",
    "financialaid_tierprogram",
    "financialaid_financialaid",
    "ecommerce_order",
    "ecommerce_line",
    "ecommerce_receipt",
)

_CREATE_TABLE = re.compile(r"^CREATE TABLE (\w+) \($(.*?)^\);", re.MULTILINE | re.DOTALL)
# A column line starts with a lowercase name; constraint lines start with an upper-case keyword.
_COLUMN = re.compile(r"^\s+([a-z_][a-z0-9_]*) (.+?)(?: (NOT NULL|NULL|GENERATED)\b(.*))?,?$")


class Column(NamedTuple):
    """One column of a source table, as written in schema.sql."""

    name: str
    type: str
    nullable: bool


def parse_schema_sql(text: str) -> dict[str, tuple[Column, ...]]:
    """Every table a schema.sql text creates -> its columns in physical order.

    Parsed rather than repeated, so that adding a column to schema.sql is the only edit
    needed for the factories and the demo generator to know about it.
    """
    result = {}
    for name, body in _CREATE_TABLE.findall(text):
        columns = []
        for line in body.splitlines():
            match = _COLUMN.match(line)
            if match is None:
                continue
            column, type_, null, _rest = match.groups()
            if null is None:
                raise ValueError(f"schema.sql: {name}.{column} does not say NULL or NOT NULL")
            columns.append(Column(column, type_.strip(), nullable=null == "NULL"))
        result[name] = tuple(columns)
    return result


# Every table schema.sql creates (the 19 SOURCE_TABLES plus the ones only a demo wants).
TABLES = parse_schema_sql(SCHEMA_SQL.read_text())


def column_names(table: str) -> tuple[str, ...]:
    """The column names of one source table, in order, for building INSERTs and SELECTs."""
    return tuple(column.name for column in TABLES[table])


def quote_ident(name: str) -> str:
    """Quote an SQL identifier without a driver helper, so any DB-API cursor can be used."""
    return '"' + name.replace('"', '""') + '"'


def create_source_schema(cursor, schema: str = "micromasters", drop: bool = True) -> None:
    """(Re)create the MicroMasters tables in `schema`, using any DB-API cursor.

    With `drop`, a dedicated schema is dropped with everything in it, so a reused test
    database never keeps tables from an older schema.sql. The `public` schema is never dropped
    (it holds extensions and other objects); only the tables of schema.sql are dropped there.
    The caller's search_path is restored afterwards, as schema.sql relies on it.
    """
    quoted = quote_ident(schema)
    if drop and schema == "public":
        for table in reversed(TABLES):
            cursor.execute(f"DROP TABLE IF EXISTS public.{quote_ident(table)} CASCADE")
    elif drop:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    cursor.execute("SELECT current_setting('search_path')")
    previous = cursor.fetchone()[0]
    restore = "SELECT set_config('search_path', %s, false)"
    cursor.execute(f"SET search_path TO {quoted}")
    try:
        cursor.execute(SCHEMA_SQL.read_text())
    except Exception:
        # In an aborted transaction the restore fails too; the DDL error is the one to report.
        with contextlib.suppress(Exception):
            cursor.execute(restore, [previous])
        raise
    cursor.execute(restore, [previous])


def empty_source_tables(cursor, schema: str = "micromasters") -> None:
    """Delete every source row and restart the ids, keeping the tables.

    For tests that commit (Django's flush ignores tables it has no models for) and for a demo
    generator that refills a database from scratch. PostgreSQL refuses to TRUNCATE while FK
    checks are still deferred in the transaction; run `SET CONSTRAINTS ALL IMMEDIATE` first.
    """
    names = ", ".join(f"{quote_ident(schema)}.{quote_ident(table)}" for table in TABLES)
    cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
