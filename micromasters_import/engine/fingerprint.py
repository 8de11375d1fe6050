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
server (only one row crosses the network), for a local table it is a scan of the table.
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


def source_fingerprint(cursor, schema: str, name: str) -> str:
    """Count and hash of the source rows and columns one staged copy reads.

    Each column goes through `hash_array_extended(ARRAY[column], n)`, which hashes any type,
    NULLs included, and which postgres_fdw can ship; the per-column hashes are combined with
    xor and summed over the rows the copy selects.
    """
    table = staging.STAGED_TABLES[name]
    columns = sorted(table.source_columns())
    row_hash = sql.SQL(" # ").join(
        sql.SQL("hash_array_extended(ARRAY[{}], {})").format(sql.Identifier(column), n)
        for n, column in enumerate(columns)
    )
    where = sql.SQL(" WHERE " + table.where) if table.where else sql.SQL("")
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum({}) FROM {}.{}{}").format(
            row_hash, sql.Identifier(schema), sql.Identifier(table.source), where
        ),
    )


def local_fingerprint(cursor, table: str) -> str:
    """Count and hash of every row of one MITx Online table, all columns."""
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum(hash_record_extended(t, 0)) FROM {} AS t").format(
            sql.Identifier(table)
        ),
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


def source_fingerprints(cursor, schema: str, steps: list[Step]) -> dict[str, str]:
    """The fingerprint of every source copy the given steps depend on."""
    names = sorted(set().union(*(source_copies(step) for step in steps)))
    return {name: source_fingerprint(cursor, schema, name) for name in names}


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
