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

A live source changes all the time, but only in some learners' rows: a new learner signs up,
a grade is corrected. So what a step reads is split in two. The rows of each learner (every
staged copy keyed by a MicroMasters user, directly by `user_column` or through its `parent`
order, and the learner's entry in the identity map `mm_learner`) are fingerprinted per learner
bucket, `user_id mod BUCKETS`; everything else (the step's SQL, the staging definitions,
course runs, exams, tiers, the mappings, the MITx Online tables it reads, including those
earlier steps write) is the step's "global" fingerprint, as before. The identity map reads
`users_user` and the learners' links only: its per-bucket digests (`map_digests`) replace
their whole-table fingerprints, so a new MITx Online account changes only the buckets of the
learners it links. A run records, once (on its ImportBatch), each learner copy's digest, its
highest id and its per-bucket digests, exact sums so that parts add up. The next run reads
each copy in one shipped aggregate split at that id (`split_fingerprint`): unchanged, nothing
more is read; only gained rows, their buckets are read through the primary key; otherwise
every bucket is digested on the source (`source_buckets`). When a step's global fingerprint
is the same as at the end of its last successful run and only some buckets differ, the runner
re-imports only the learners of those buckets (see planner.py and narrowing.py).
"""

import hashlib
import re
import uuid

from django.apps import apps
from django.db import DatabaseError, transaction
from psycopg import sql

from micromasters_import.engine import hashing, staging
from micromasters_import.engine.steps import Step

LOCAL_TABLE = re.compile(
    r"\b(users_user|courses_[a-z_]+|ecommerce_[a-z_]+|flexiblepricing_[a-z_]+"
    r"|reversion_version|django_content_type|micromasters_import_[a-z_]+)\b"
)


COMMENT = re.compile(r"--[^\n]*")

# Written by every step (its provenance rows, steps.TAIL) and read by none: what a step
# inserts does not depend on it, and hashing it (a row per row ever imported) cost a scan of
# the largest table of the import on every run.
WRITTEN_ONLY = {"micromasters_import_importedrow"}


def local_tables(step: Step) -> set[str]:
    """The MITx Online tables a step reads, directly or through a derived staged table."""
    text = step.sql + "".join(
        staging.DERIVED_TABLES[name][0]
        for name in staging.closure(step.staged_tables)
        if name in staging.DERIVED_TABLES
    )
    named = set(LOCAL_TABLE.findall(COMMENT.sub("", text))) - WRITTEN_ONLY
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
    return None if table.unkept_columns() else table.kept_columns()


Types = dict[str, str | None]


def _row_hash(columns: list[str], types: Types, alias: str | None = None) -> sql.Composable:
    """The xor of the columns' hashes, each seeded by its place among `columns`."""
    return sql.SQL(" # ").join(_hashes(columns, columns, types, alias))


def _hash(
    expression: sql.Composable, type_name: str | None, seed: int, nullable: bool = True
) -> sql.Composable:
    """One value's hash by its type (see hashing.py): NULL included, shippable by
    postgres_fdw, the same on the source and over the staged copy."""
    return sql.SQL(hashing.template(type_name, seed, nullable)).format(expression)


def _hashes(
    read: list[str], columns: list[str], types: Types, alias: str | None
) -> list[sql.Composable]:
    """The hashes of some of a copy's source columns, each seeded by its place in `read`."""
    return [
        _hash(_column(column, alias), types.get(column), read.index(column)) for column in columns
    ]


def source_types(cursor, schema: str, table: staging.StagedTable) -> Types:
    """The types of a copy's source columns, by which both sides choose each column's hash.

    Read from the source table (the mount's foreign table has the source's types) for the
    source and for the staged copy alike: the copy keeps those columns with those types, so
    the same function hashes the same values on both sides.
    """
    return hashing.column_types(cursor, schema, table.source)


def _split(table: staging.StagedTable) -> tuple[list[str], list[str], list[str]]:
    """A copy's source columns (sorted), those it keeps as they are, and the others."""
    read = sorted(table.source_columns())
    kept = [column for column in read if table.columns.get(column) == column]
    return read, kept, [column for column in read if column not in kept]


def _column(column: str, alias: str | None) -> sql.Composable:
    return sql.Identifier(alias, column) if alias else sql.Identifier(column)


def source_fingerprint(cursor, schema: str, name: str) -> str:
    """Count and hash of the source rows and columns one staged copy reads, on the source.

    Each column is hashed by its type, seeded by its place (`hashing.template`: NULLs
    included, and shipped by postgres_fdw); the per-column hashes are combined with xor and
    summed over the rows the copy selects.
    """
    table = staging.STAGED_TABLES[name]
    where = sql.SQL(" WHERE " + table.where) if table.where else sql.SQL("")
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum({}) FROM {}.{}{}").format(
            source_row_hash(table, source_types(cursor, schema, table)),
            sql.Identifier(schema),
            sql.Identifier(table.source),
            where,
        ),
    )


def staged_fingerprint(cursor, name: str, schema: str) -> str | None:
    """The same fingerprint as `source_fingerprint`, read from the whole staged copy.

    Only for a copy whose kept columns determine it (`copied_columns`), and only right after
    it was staged whole, in the same transaction: then it holds exactly the rows and values
    the source query would hash, and scanning it locally spares reading the source again.
    Returns None for a copy that cannot be fingerprinted this way. `schema` is the source's,
    whose column types choose the hashes (`source_types`).
    """
    table = staging.STAGED_TABLES[name]
    row_hash = _staged_row_hash(table, source_types(cursor, schema, table))
    if row_hash is None:
        return None
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum({}) FROM pg_temp.{}").format(row_hash, sql.Identifier(name)),
    )


def _staged_row_hash(table: staging.StagedTable, types: Types, alias: str | None = None):
    """The row hash `source_fingerprint` computes, over the staged copy; None if it cannot be."""
    columns = copied_columns(table)
    if columns is not None:
        return _row_hash(columns, types, alias)
    return _with_source_hash(table, types, alias)


def _with_source_hash(
    table: staging.StagedTable, types: Types, alias: str | None = None
) -> sql.Composable | None:
    """The row hash of a copy that keeps the source's hash of what it does not keep.

    A copy with a `SOURCE_HASH` column (the cached enrollments: their JSON is read on the
    source, never copied) has, per row, the hash of its unkept columns, computed as it is
    staged with the seeds `source_fingerprint` gives them; combined with the hashes of the kept
    columns, it is the same row hash. When only the rows recomputed from the unkept columns
    carry it (`recompute_when`), every other row is hashed by the values the shippable
    stand-ins staged it with (`_decided_hash`), as `source_row_hash` does on the source.
    None if the column is not exactly that (with the source's types: a source whose unkept
    columns have other types than staging assumed is fingerprinted on the source only).
    """
    read, kept, unkept = _split(table)
    expected = staging.source_hash_expression(
        tuple(read), {column: types.get(column) for column in unkept}, table.recompute_when
    )
    if not unkept or table.columns.get(staging.SOURCE_HASH) != expected:
        return None
    unkept_hash = _column(staging.SOURCE_HASH, alias)
    if table.decided:
        decided = _decided_hash(table, on_source=False)
        unkept_hash = sql.SQL("coalesce({}, {})").format(unkept_hash, decided)
    return sql.SQL(" # ").join([*_hashes(read, kept, types, alias), unkept_hash])


def _decided_hash(table: staging.StagedTable, on_source: bool) -> sql.Composable:
    """The hash of the values the shippable stand-ins decide (`StagedTable.decided`), on the
    source or over the staged copy, each by the type it is declared with, seeded after every
    source column so that it never collides with a column's hash.

    A decided value is never NULL (a row whose value the stand-ins leave NULL is recomputed,
    and hashed by its document instead), so its expression, a CASE of JSON containment tests
    on the source, is hashed without a NULL test that would compute it twice per row.
    """
    base = len(table.source_columns())
    return sql.SQL(" # ").join(
        _hash(
            sql.SQL(table.decided[name][0 if on_source else 1]),
            table.decided[name][2],
            base + n,
            nullable=False,
        )
        for n, name in enumerate(sorted(table.decided))
    )


def source_row_hash(
    table: staging.StagedTable, types: Types, alias: str | None = None
) -> sql.Composable:
    """The per-row hash of a copy's source rows, computed on the source; its staged copy
    gives the same (`_staged_row_hash`).

    A copy of kept columns hashes them. The cached enrollments hash their kept columns and,
    for the rows the shippable stand-ins decide, the decided values (`is_active`, `mode`),
    for the others the JSON document: the copy is a function of exactly that, and the source
    hashes a handful of documents instead of a million. Any other copy hashes every source
    column it reads. `types` are the source columns' (`source_types`).
    """
    columns = copied_columns(table)
    if columns is not None:
        return _row_hash(columns, types, alias)
    read, kept, unkept = _split(table)
    if table.decided and _with_source_hash(table, types) is not None:
        decided = _decided_hash(table, on_source=True)
        return sql.SQL(" # ").join(
            [
                *_hashes(read, kept, types, alias),
                sql.SQL("CASE WHEN {} THEN {} ELSE {} END").format(
                    sql.SQL(table.recompute_when),
                    sql.SQL(" # ").join(_hashes(read, unkept, types, alias)),
                    decided,
                ),
            ]
        )
    return _row_hash(read, types, alias)


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
        row_hash = _row_hash(list(columns), hashing.column_types(cursor, None, table), "t")
    return _digest(
        cursor,
        sql.SQL("SELECT count(*), sum({}) FROM {} AS t").format(row_hash, sql.Identifier(table)),
    )


def _digest(cursor, query: sql.Composable) -> str:
    """Run a fingerprint query; a table that cannot be hashed (a column type without an
    extended hash function, say) gets a value that never matches, so its steps always run."""
    rows = _rows(cursor, query)
    if rows is None:
        return f"unhashable:{uuid.uuid4()}"
    count, total = rows[0]
    return f"{count}:{total or 0}"


def local_fingerprints(cursor, steps: list[Step]) -> dict[str, str]:
    """The fingerprint of every MITx Online table the given steps read."""
    tables = sorted(set().union(*(local_tables(step) for step in steps)))
    return {table: local_fingerprint(cursor, table) for table in tables}


def source_fingerprints(
    cursor, schema: str, steps: list[Step], staged: set[str] = frozenset()
) -> dict[str, str]:
    """The whole-table fingerprint of every source copy the given steps read that is not read
    per learner (see `split_fingerprint`), and of the learners' links (see `map_inputs`).

    `staged` names the copies staged whole in this transaction: those whose kept columns
    determine them are hashed locally (`staged_fingerprint`), the rest on the source.
    """
    names = sorted(
        set().union(*(global_copies(step) for step in steps))
        | ({LINKS} if any(reads_map(step) for step in steps) else set())
    )
    found = {}
    for name in names:
        local = staged_fingerprint(cursor, name, schema) if name in staged else None
        found[name] = local or source_fingerprint(cursor, schema, name)
    return found


def step_fingerprint(step: Step, sources: dict[str, str], local: dict[str, str]) -> str:
    """One digest of a step's SQL, its staging definitions and everything it reads that is
    not fingerprinted per learner bucket (`split_fingerprint`, `map_digests`): its global part."""
    parts = [step.checksum, f"buckets={BUCKETS}"]
    copies = set(global_copies(step))
    for name in staging.closure(step.staged_tables):
        definition = staging.STAGED_TABLES.get(name) or staging.DERIVED_TABLES.get(name)
        parts.append(f"{name}={definition!r}")
        if name in copies:
            parts.append(f"{name}:{sources[name]}")
    parts += [f"{table}:{local[table]}" for table in sorted(global_local_tables(step))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# -- per learner bucket ----------------------------------------------------------------------

# How many buckets learners are spread over (`user_id mod BUCKETS`): a change confined to a
# few learners re-imports the learners of a few buckets, about 1/1024 of them each.
BUCKETS = 1024
# The bucket of rows that belong to no learner (a line whose order is missing): a change there
# is a global change.
NO_LEARNER = "none"
# The learners' links to MITx Online accounts: read only through the identity map, whose
# per-bucket digests cover them.
LINKS = "mm_mitxonline_uid"
MAP = "mm_learner"
MAP_COLUMNS = ("mm_user_id", "uid", "user_id", "ambiguous")


def reads_map(step: Step) -> bool:
    """Whether the step reaches MITx Online accounts through the identity map."""
    return MAP in staging.closure(step.staged_tables)


def learner_keyed(name: str) -> bool:
    """Whether every row of a staged copy belongs to one MicroMasters user."""
    table = staging.STAGED_TABLES.get(name)
    return bool(table and (table.user_column or table.parent))


def learner_copies(step: Step) -> list[str]:
    """The source copies a step reads that are fingerprinted per learner bucket.

    The links are left out when the step reads them only through the identity map, which is
    fingerprinted per bucket on its own (`map_digests`).
    """
    return [
        name
        for name in source_copies(step)
        if learner_keyed(name) and (name != LINKS or name in step.staged_tables)
    ]


def global_copies(step: Step) -> list[str]:
    """The source copies a step reads that are part of its global fingerprint."""
    keyed = set(learner_copies(step))
    covered = {LINKS} if reads_map(step) and LINKS not in step.staged_tables else set()
    return [name for name in source_copies(step) if name not in keyed | covered]


def global_local_tables(step: Step) -> set[str]:
    """The MITx Online tables in a step's global fingerprint: all it reads, except
    `users_user` when the step reads it only through the identity map."""
    tables = local_tables(step)
    direct = set(LOCAL_TABLE.findall(COMMENT.sub("", step.sql)))
    if reads_map(step) and "users_user" not in direct:
        tables.discard("users_user")
    return tables


def _rows(cursor, query: sql.Composable) -> list | None:
    """The rows of a fingerprint query; None if it cannot be computed (e.g. unhashable)."""
    try:
        with transaction.atomic():
            cursor.execute(query)
            return cursor.fetchall()
    except DatabaseError:
        return None


def raw(count, total) -> str:
    """A count and a sum of row hashes, exact, so that two parts add up to the whole."""
    return f"{int(count or 0)}:{int(total or 0)}"


def add(first: str, second: str) -> str:
    """The raw digest of the union of two disjoint sets of rows."""
    (count, total), (more, extra) = (part.split(":") for part in (first, second))
    return f"{int(count) + int(more)}:{int(total) + int(extra)}"


def plus(buckets: dict[str, str], more: dict[str, str]) -> dict[str, str]:
    """Per-bucket digests with the digests of more rows added."""
    return {key: add(buckets.get(key, "0:0"), more.get(key, "0:0")) for key in {*buckets, *more}}


def _bucket_key(key) -> str:
    return NO_LEARNER if key is None else str(int(key))


def _learner_of(table, parent_relation):
    """The expression of a row's learner, and the join it needs (a line's is its order's)."""
    if table.user_column:
        return sql.SQL("t.{}").format(sql.Identifier(table.user_column)), sql.SQL("")
    column, parent = table.parent
    return (
        sql.SQL("p.{}").format(sql.Identifier(staging.STAGED_TABLES[parent].user_column)),
        sql.SQL(" LEFT JOIN {} AS p ON p.id = t.{}").format(
            parent_relation, sql.Identifier(column)
        ),
    )


def _where(*conditions) -> sql.Composable:
    conditions = [condition for condition in conditions if condition is not None]
    if not conditions:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)


def _source(schema: str, table: str) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def _source_hash(cursor, schema: str, table) -> sql.Composable:
    return source_row_hash(table, source_types(cursor, schema, table), "t")


def split_fingerprint(cursor, schema: str, name: str, upto: int | None) -> dict | None:
    """A learner copy's source rows, on the source, in one shipped aggregate: the whole
    table's digest, the part with ids up to `upto` (the last run's highest id), the highest id.

    When the part up to `upto` is what the whole was at the last run, the table has only
    gained rows since: their learners are all that changed (`source_buckets(above=upto)`).
    """
    table = staging.STAGED_TABLES[name]
    old = sql.SQL("t.id <= {}").format(upto) if upto is not None else sql.SQL("true")
    where = sql.SQL(table.where) if table.where else None
    rows = _rows(
        cursor,
        sql.SQL("SELECT {}, count(*), sum({}), max(t.id) FROM {} AS t{} GROUP BY 1").format(
            old, _source_hash(cursor, schema, table), _source(schema, table.source), _where(where)
        ),
    )
    if rows is None:
        return None
    parts = {bool(key): (raw(count, total), top) for key, count, total, top in rows}
    whole = add(parts.get(True, ("0:0",))[0], parts.get(False, ("0:0",))[0])
    tops = [top for _, top in parts.values() if top is not None]
    return {
        "whole": whole,
        "old": parts.get(True, ("0:0",))[0],
        "upto": upto,
        "max_id": max(tops) if tops else None,
    }


def source_buckets(cursor, schema: str, name: str, above: int | None = None) -> dict | None:
    """Per learner bucket, the raw digest of a copy's source rows (those with ids `above`
    a value, if given), on the source.

    Grouped per learner first, then per bucket: grouped by a bucket, a source planner that
    cannot tell how few buckets there are sorts every row whole (JSON documents included)
    before hashing it; grouped by the indexed user column, it hashes each row as it reads it.
    postgres_fdw ships the inner aggregate (a line or receipt joined to its order on the same
    server too); one row per learner comes back.
    """
    table = staging.STAGED_TABLES[name]
    parent = staging.STAGED_TABLES[table.parent[1]].source if table.parent else None
    learner, join = _learner_of(table, _source(schema, parent) if parent else None)
    newer = sql.SQL("t.id > {}").format(above) if above is not None else None
    rows = _rows(
        cursor,
        sql.SQL(
            "SELECT mod(learner, {}), sum(rows), sum(total) FROM (SELECT {} AS learner, "
            "count(*) AS rows, sum({}) AS total FROM {} AS t{}{} GROUP BY 1) AS per_learner "
            "GROUP BY 1"
        ).format(
            BUCKETS,
            learner,
            _source_hash(cursor, schema, table),
            _source(schema, table.source),
            join,
            _where(sql.SQL(table.where) if table.where else None, newer),
        ),
    )
    if rows is None:
        return None
    return {_bucket_key(key): raw(count, total) for key, count, total in rows}


def staged_state(cursor, name: str, schema: str) -> dict | None:
    """The same digests, per bucket, over a copy (and its parent) staged whole just now:
    one local pass gives the buckets, hence the whole, and the highest id. `schema` is the
    source's (`staged_fingerprint`)."""
    table = staging.STAGED_TABLES[name]
    row_hash = _staged_row_hash(table, source_types(cursor, schema, table), "t")
    if row_hash is None:
        return None
    parent = sql.SQL("pg_temp.{}").format(sql.Identifier(table.parent[1])) if table.parent else None
    learner, join = _learner_of(table, parent)
    rows = _rows(
        cursor,
        sql.SQL(
            "SELECT mod({}, {}), count(*), sum({}), max(t.id) FROM pg_temp.{} AS t{} GROUP BY 1"
        ).format(learner, BUCKETS, row_hash, sql.Identifier(name), join),
    )
    if rows is None:
        return None
    buckets = {_bucket_key(key): raw(count, total) for key, count, total, _ in rows}
    whole = "0:0"
    for digest in buckets.values():
        whole = add(whole, digest)
    tops = [top for *_, top in rows if top is not None]
    return {"whole": whole, "max_id": max(tops) if tops else None, "buckets": buckets}


def map_digests(cursor) -> dict[str, str] | None:
    """Per learner bucket, the digest of the identity map as staged (whole) in this session."""
    rows = _rows(
        cursor,
        sql.SQL(
            "SELECT mod(t.mm_user_id, {}), count(*), sum({}) FROM pg_temp.{} AS t GROUP BY 1"
        ).format(
            BUCKETS,
            _row_hash(list(MAP_COLUMNS), hashing.column_types(cursor, "pg_temp", MAP), "t"),
            sql.Identifier(MAP),
        ),
    )
    if rows is None:
        return None
    return {_bucket_key(key): raw(count, total) for key, count, total in rows}


def map_inputs(sources: dict[str, str], local: dict[str, str]) -> str:
    """What the identity map is computed from, as one value: when it is the same as a run's,
    that run's map digests are still the map's (the map is not built to find out)."""
    return f"users_user:{local.get('users_user')}|{LINKS}:{sources.get(LINKS)}"


def differing(now: dict[str, str], then: dict[str, str]) -> set[str]:
    """The buckets whose digests differ (present on one side only included)."""
    return {key for key in set(now) | set(then) if now.get(key) != then.get(key)}
