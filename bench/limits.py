"""The limit of an import run: what moving its data costs PostgreSQL, with nothing else.

The floor of the benchmark (the same steps on local tables) is this project's own design; the
limit is not. It is measured in two parts, on the very run it is compared with:

  transfer  copy exactly the source rows and columns the steps need (the staged copies'
            rows and columns, through the mount, as staging selects them) into unindexed
            local tables: what any import must read across the network;
  write     insert the rows the run inserted (every row its provenance names, and the
            provenance rows themselves) into empty copies of their target tables that have
            the same indexes and constraints, foreign keys included: what any import must write.

Both return, per table, the rows moved and the seconds, so that a test can check that they
move exactly what the run moved (`bench/limits_test.py`). The functions take a DB-API cursor
(a Django cursor in tests, a psycopg one in the benchmark). `transfer` must run in a
transaction (its planner settings are local to it); `write` should run in autocommit, so each
table's insert is timed with its commit and the foreign key checks deferred to it.
"""

import dataclasses
import time

from psycopg import sql

from micromasters_import.engine import staging
from micromasters_import.engine.steps import discover

WRITE_SCHEMA = "bench_limit"
PROVENANCE = "micromasters_import_importedrow"
LEDGER = "micromasters_import_importrun"


def needed_copies() -> list[str]:
    """The staged copies of source tables that the steps read (directly or to derive one)."""
    names = set().union(*(step.staged_tables for step in discover()))
    return [name for name in staging.closure(names) if name in staging.STAGED_TABLES]


def transfer(cursor, schema: str = staging.SOURCE_SCHEMA) -> list[dict]:
    """Copy what staging copies, without its indexes and statistics; rows and seconds per table.

    The tables are the session's temporary `mm_*` tables, as in a run; `drop_transfer` drops
    them. Narrowed copies (order lines of the staged orders) read their parent as staging does.
    """
    results = []
    for name in needed_copies():
        table = staging.STAGED_TABLES[name]
        # What the steps read, not what the run's fingerprints keep on the side.
        kept = {k: v for k, v in table.columns.items() if k != staging.SOURCE_HASH}
        table = dataclasses.replace(table, columns=kept)
        remote = staging.is_foreign(cursor, schema, table.source)
        statements = staging.copy_statements(table, schema, remote=remote)
        unindexed = statements[: len(statements) - len(table.indexes) - 1]  # no index, ANALYZE
        started = time.monotonic()
        pushdown = remote and table.pushdown is not None
        with staging.local_aggregation_disabled(cursor, pushdown, (schema, table.source)):
            for statement, params in unindexed:
                cursor.execute(statement, params or None)
        seconds = time.monotonic() - started
        cursor.execute(sql.SQL("SELECT count(*) FROM pg_temp.{}").format(sql.Identifier(name)))
        results.append({"table": name, "rows": cursor.fetchone()[0], "seconds": seconds})
    return results


def drop_transfer(cursor) -> None:
    """Drop the copies `transfer` made."""
    staging.drop(cursor, needed_copies())


def inserted_by(cursor, batch) -> dict[str, int]:
    """{target table: rows} that run `batch` inserted, read from its provenance."""
    cursor.execute(
        f"SELECT r.target_table, count(*) FROM {PROVENANCE} r JOIN {LEDGER} l "
        "ON l.id = r.ledger_id WHERE l.batch = %s GROUP BY 1 ORDER BY 1",
        [str(batch)],
    )
    return dict(cursor.fetchall())


def write(cursor, batch) -> list[dict]:
    """Insert what run `batch` inserted into empty, fully indexed and constrained copies.

    The rows to insert are first gathered (untimed) into plain temporary tables, so only the
    inserts are timed. Returns rows and seconds per table, the provenance table last.
    """
    tables = [*inserted_by(cursor, batch), PROVENANCE]
    cursor.execute(
        sql.SQL("DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}").format(
            s=sql.Identifier(WRITE_SCHEMA)
        )
    )
    results = []
    for table in tables:
        source = sql.Identifier(f"limit_rows_{table}")
        if table == PROVENANCE:
            rows = sql.SQL(
                "SELECT r.* FROM {p} r JOIN {l} l ON l.id = r.ledger_id WHERE l.batch = %s"
            ).format(p=sql.Identifier(PROVENANCE), l=sql.Identifier(LEDGER))
        else:
            rows = sql.SQL(
                "SELECT t.* FROM {t} t WHERE t.id IN (SELECT r.target_id FROM {p} r JOIN {l} l "
                "ON l.id = r.ledger_id WHERE l.batch = %s AND r.target_table = {name})"
            ).format(
                t=sql.Identifier(table),
                p=sql.Identifier(PROVENANCE),
                l=sql.Identifier(LEDGER),
                name=sql.Literal(table),
            )
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(source))
        cursor.execute(
            sql.SQL("CREATE TEMP TABLE {} AS {} ORDER BY 1").format(source, rows), [str(batch)]
        )
        copy = sql.SQL("{}.{}").format(sql.Identifier(WRITE_SCHEMA), sql.Identifier(table))
        cursor.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(copy, sql.Identifier(table))
        )
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} " + definition).format(
                    copy, sql.Identifier(name)
                )
            )
        started = time.monotonic()
        cursor.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(copy, source))
        count = cursor.rowcount
        seconds = time.monotonic() - started
        cursor.execute(sql.SQL("DROP TABLE {}").format(source))
        results.append({"table": table, "rows": count, "seconds": seconds})
    return results


def drop_write(cursor) -> None:
    """Drop the copies `write` made."""
    cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(WRITE_SCHEMA)))
