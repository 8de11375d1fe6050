"""Fingerprints of everything a step reads, so that a re-run can skip steps with nothing to do.

A migration is re-run many times (after fixing a mapping, after a failure, to check that
nothing is left), and re-reading a million source rows to learn that nothing changed is most
of the cost of a re-run. Each step reads known tables: the staged MicroMasters copies and some
MITx Online tables (mappings, users, runs, and the table it writes). When none of them has
changed since the end of the step's last successful run, and neither has its SQL, running it
again would insert nothing, because every step is idempotent and a later step only ever adds
rows an earlier step's anti-joins skip. Such a step is reported as unchanged, with the counts
of its last run carried over.

A fingerprint is the row count and a sum of 64-bit per-row hashes of the columns read,
computed where the data is: for a mounted table the whole aggregate is shipped to the source
server (only one row crosses the network), for a local table it is a scan of the table. A
MITx Online table that a live site keeps changing in columns no step reads is hashed over the
columns the steps read only (`LOCAL_COLUMNS`): users log in (`last_login`) and edit their
profiles all the time, and that must not make a re-run redo every step; a new account, or a
changed username, does. Every other MITx Online table is hashed whole.
"""

import hashlib
import re
import uuid

from django.apps import apps
from django.db import DatabaseError, transaction
from psycopg import sql

from micromasters_import.engine import staging
from micromasters_import.engine.steps import Step

LOCAL_TABLE = re.compile(
    r"\b(users_user|courses_[a-z_]+|ecommerce_[a-z_]+|flexiblepricing_[a-z_]+"
    r"|reversion_version|django_content_type|micromasters_import_[a-z_]+)\b"
)


COMMENT = re.compile(r"--[^\n]*")


def local_tables(step: Step) -> set[str]:
    """The MITx Online tables a step reads, directly or through a derived staged table."""
    text = step.sql + "".join(
        staging.DERIVED_TABLES[name][0]
        for name in staging.closure(step.staged_tables)
        if name in staging.DERIVED_TABLES
    )
    named = set(LOCAL_TABLE.findall(COMMENT.sub("", text)))
    return named & {model._meta.db_table for model in apps.get_models()}


def source_copies(step: Step) -> list[str]:
    """The staged copies of MicroMasters tables a step depends on."""
    return [name for name in staging.closure(step.staged_tables) if name in staging.STAGED_TABLES]


def copied_columns(table: staging.StagedTable) -> list[str] | None:
    """The source columns a staged copy keeps as they are, when they determine all of it.

    When every source column the copy's expressions read is also kept as is, the copy is a
    function of those columns of the selected rows, so they are all a fingerprint needs to
    hash; and, the values being the same on both sides, their hash is the same whether it is
    computed through the mount or over the staged copy. A copy that keeps only values derived
    from a column it does not keep (the cached enrollments' JSON) returns None: its
    fingerprint hashes the source columns it reads, on the source.
    """
    kept = sorted(column for column, expression in table.columns.items() if column == expression)
    read = set(re.findall(r"\b[a-z_]+\b", " ".join(table.columns.values())))
    read &= staging.KNOWN_SOURCE_COLUMNS.get(table.source, set())
    return kept if read <= set(kept) else None


def _row_hash(columns: list[str]) -> sql.Composable:
    return sql.SQL(" # ").join(
        sql.SQL("hash_array_extended(ARRAY[{}], {})").format(sql.Identifier(column), n)
        for n, column in enumerate(columns)
    )


def source_fingerprint(cursor, schema: str, name: str) -> str:
    """Count and hash of the source rows and columns one staged copy reads, on the source.

    Each column goes through `hash_array_extended(ARRAY[column], n)`, which hashes any type,
    NULLs included, and which postgres_fdw can ship; the per-column hashes are combined with
    xor and summed over the rows the copy selects.
    """
    table = staging.STAGED_TABLES[name]
    columns = copied_columns(table) or sorted(table.source_columns())
    where = sql.SQL(" WHERE " + table.where) if table.where else sql.SQL("")
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum({}) FROM {}.{}{}").format(
            _row_hash(columns), sql.Identifier(schema), sql.Identifier(table.source), where
        ),
    )


def staged_fingerprint(cursor, name: str) -> str | None:
    """The same fingerprint as `source_fingerprint`, read from the whole staged copy.

    Only for a copy whose kept columns determine it (`copied_columns`), and only right after
    it was staged whole, in the same transaction: then it holds exactly the rows and values
    the source query would hash, and scanning it locally spares reading the source again.
    Returns None for a copy that cannot be fingerprinted this way.
    """
    table = staging.STAGED_TABLES[name]
    columns = copied_columns(table)
    if columns is not None:
        row_hash = _row_hash(columns)
    else:
        row_hash = _with_source_hash(table)
        if row_hash is None:
            return None
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum({}) FROM pg_temp.{}").format(row_hash, sql.Identifier(name)),
    )


def _with_source_hash(table: staging.StagedTable) -> sql.Composable | None:
    """The row hash of a copy that keeps the source's hash of what it does not keep.

    A copy with a `SOURCE_HASH` column (the cached enrollments: their JSON is read on the
    source, never copied) has, per row, the hash of its unkept columns, computed on the source
    with the seeds `source_fingerprint` gives them; combined with the hashes of the kept
    columns, it is the same row hash. None if the column is not exactly that.
    """
    read = sorted(table.source_columns())
    kept = [column for column in read if table.columns.get(column) == column]
    unkept = tuple(column for column in read if column not in kept)
    expected = staging.source_hash_expression(tuple(read), unkept)
    if not unkept or table.columns.get(staging.SOURCE_HASH) != expected:
        return None
    return sql.SQL(" # ").join(
        [
            *(
                sql.SQL("hash_array_extended(ARRAY[{}], {})").format(
                    sql.Identifier(column), read.index(column)
                )
                for column in kept
            ),
            sql.Identifier(staging.SOURCE_HASH),
        ]
    )


# The only columns of these MITx Online tables that any step (or the identity map, or the
# post-run checks) reads. Keep in step with the SQL: a column read but not listed here would
# let a re-run skip a step whose input changed.
LOCAL_COLUMNS = {"users_user": ("id", "username")}


def local_fingerprint(cursor, table: str) -> str:
    """Count and hash of every row of one MITx Online table: the columns the steps read
    (LOCAL_COLUMNS), or all of them."""
    columns = LOCAL_COLUMNS.get(table)
    if columns is None:
        row_hash = sql.SQL("hash_record_extended(t, 0)")
    else:
        row_hash = sql.SQL(" # ").join(
            sql.SQL("hash_array_extended(ARRAY[t.{}], {})").format(sql.Identifier(column), n)
            for n, column in enumerate(columns)
        )
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum({}) FROM {} AS t").format(row_hash, sql.Identifier(table)),
    )


def _digest(cursor, query: sql.Composable) -> str:
    """Run a fingerprint query; a table that cannot be hashed (a column type without an
    extended hash function, say) gets a value that never matches, so its steps always run."""
    try:
        with transaction.atomic():
            cursor.execute(query)
            count, total = cursor.fetchone()
    except DatabaseError:
        return f"unhashable:{uuid.uuid4()}"
    return f"{count}:{total or 0}"


def local_fingerprints(cursor, steps: list[Step]) -> dict[str, str]:
    """The fingerprint of every MITx Online table the given steps read."""
    tables = sorted(set().union(*(local_tables(step) for step in steps)))
    return {table: local_fingerprint(cursor, table) for table in tables}


def source_fingerprints(
    cursor, schema: str, steps: list[Step], staged: set[str] = frozenset()
) -> dict[str, str]:
    """The fingerprint of every source copy the given steps depend on.

    `staged` names the copies staged whole in this transaction: those whose kept columns
    determine them are hashed locally (`staged_fingerprint`), the rest on the source.
    """
    names = sorted(set().union(*(source_copies(step) for step in steps)))
    found = {}
    for name in names:
        local = staged_fingerprint(cursor, name) if name in staged else None
        found[name] = local or source_fingerprint(cursor, schema, name)
    return found


def step_fingerprint(step: Step, sources: dict[str, str], local: dict[str, str]) -> str:
    """One digest of a step's SQL, its staging definitions and everything it reads."""
    parts = [step.checksum]
    for name in staging.closure(step.staged_tables):
        definition = staging.STAGED_TABLES.get(name) or staging.DERIVED_TABLES.get(name)
        parts.append(f"{name}={definition!r}")
        if name in sources:
            parts.append(f"{name}:{sources[name]}")
    parts += [f"{table}:{local[table]}" for table in sorted(local_tables(step))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
