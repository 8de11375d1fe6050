"""Pull the MicroMasters rows the steps need into local temporary tables, once per run.

Joining foreign tables straight from the numbered steps is hundreds of times slower than the
same SQL on local tables: the planner has no estimates for foreign tables and re-scans remote
tables once per outer row (at 20,000 users: about 300 s with postgres_fdw's defaults, 6.5 s
tuned, 0.75 s for the same SQL on local tables). So every source table is read through
the mount exactly once, with only the columns (and, where a rule allows, the rows) the steps
use, into a session-local `mm_*` table with fresh statistics (and indexes where a plan probes
it, see `StagedTable.indexes`). The numbered steps then join only local tables, on integers.

Temporary tables live as long as the database session and are private to it, so the staged
copy survives the per-step transactions of one run, is invisible to anyone else, and needs no
privilege beyond TEMP. Staging inside the run's first transaction also gives every step the
same consistent snapshot of the source.
"""

import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import sql

from micromasters_import.engine import hashing, timing

SOURCE_SCHEMA = "micromasters"
STAGED_NAME = re.compile(r"\bmm_[a-z_]+\b")


@dataclass(frozen=True)
class StagedTable:
    """One local copy of (part of) one MicroMasters table."""

    name: str
    source: str
    columns: dict[str, str]
    where: str | None = None
    # Only where a plan probes the copy by them: a nested loop with the copy inside (the
    # identity map's lookups in a narrowed run, a check's join whose other side is expected
    # small, an EXISTS the planner cannot hash). The steps read the big copies whole, by hash
    # joins and sorts: an index on the cached enrollments cost 0.4-1.2 s of every run at
    # 200,000 learners, one on the final grades 0.2 s, and no plan used either (EXPLAIN
    # ANALYZE of every step and check in a first run, a full re-run, a narrowed re-run and a
    # one-learner explain). The small ones left cost a few milliseconds each and keep a
    # misestimated join from scanning a copy once per outer row.
    indexes: tuple[str, ...] = ()
    # Columns no plan needs statistics of (a payload copied as it is, never joined, filtered,
    # grouped or sorted on): ANALYZE skips them. A receipt's JSON document was 85 % of the
    # receipts' ANALYZE (0.15-0.2 s at 200,000 learners).
    unanalyzed: tuple[str, ...] = ()
    user_column: str | None = "user_id"
    parent: tuple[str, str] | None = None  # (column, staged table) it belongs to, e.g. lines
    # Shippable stand-ins for columns whose exact expression postgres_fdw cannot push down
    # (PostgreSQL 15 ships no `->>` on jsonb: its text key is collation-sensitive), and the
    # condition, also shippable, under which a row's unkept columns are fetched and its values
    # read exactly. The condition must not hold when those columns are all NULL (one built
    # of `@>`, NULL on NULL, never does): that is how the copy tells the fetched rows apart.
    pushdown: dict[str, str] | None = None
    recompute_when: str | None = None
    # What a fingerprint hashes of a row the stand-ins decided: per pushdown column, an
    # expression on the source and one on the staged copy that give the same value, and the
    # type they have, which chooses its hash (hashing.py): a type without a collation
    # (postgres_fdw ships no function of a text value: its collation might differ on the
    # source).
    decided: dict[str, tuple[str, str, str]] | None = None
    # How a copy narrowed to some learners selects its rows, when more than their own rows
    # are needed: `{source}` is the source table, `%s` the learners' ids.
    narrow: str | None = None

    def source_columns(self) -> set[str]:
        """The source columns this copy reads, so preflight can check they exist."""
        text = " ".join([*self.columns.values(), self.where or ""])
        words = set(re.findall(r"\b[a-z_]+\b", text))
        return words & KNOWN_SOURCE_COLUMNS.get(self.source, set())

    def kept_columns(self) -> list[str]:
        """The source columns this copy keeps as they are (sorted)."""
        return sorted(column for column, expression in self.columns.items() if column == expression)

    def unkept_columns(self) -> list[str]:
        """The source columns this copy's expressions read but it does not keep (sorted): the
        cached enrollments' JSON document, from which it keeps computed values only."""
        read = set(re.findall(r"\b[a-z_]+\b", " ".join(self.columns.values())))
        read &= KNOWN_SOURCE_COLUMNS.get(self.source, set())
        return sorted(read - set(self.kept_columns()))


# The columns of the source tables that staging may read; preflight checks each one exists.
# The mount (mount.required_tables) covers every table named here, so the columns the operator's
# admin reads to describe mappings (source_lookup: course numbers and keys, tier names and
# income thresholds) are listed too; preflight only checks the columns staging reads.
KNOWN_SOURCE_COLUMNS = {
    "social_auth_usersocialauth": {"id", "provider", "uid", "user_id"},
    "auth_user": {"id", "username"},
    # Read only by the list of learners left behind (left_behind.py), for their real names.
    "profiles_profile": {"user_id", "first_name", "last_name"},
    "courses_program": {"id", "title"},
    "courses_course": {"id", "title", "program_id", "course_number", "edx_key"},
    "courses_courserun": {
        "id",
        "title",
        "edx_course_key",
        "enrollment_start",
        "start_date",
        "enrollment_url",
        "course_id",
        "end_date",
        "enrollment_end",
        "upgrade_deadline",
        "courseware_backend",
        "is_discontinued",
    },
    "exams_examrun": {"course_id"},
    "dashboard_cachedenrollment": {"id", "data", "course_run_id", "user_id"},
    "dashboard_programenrollment": {"id", "program_id", "user_id"},
    "grades_finalgrade": {
        "id",
        "created_on",
        "updated_on",
        "grade",
        "passed",
        "status",
        "course_run_id",
        "user_id",
    },
    "grades_proctoredexamgrade": {"id", "score", "passed", "course_id", "user_id"},
    "grades_micromasterscoursecertificate": {
        "id",
        "created_on",
        "updated_on",
        "hash",
        "course_id",
        "user_id",
    },
    "grades_micromastersprogramcertificate": {
        "id",
        "created_on",
        "updated_on",
        "hash",
        "program_id",
        "user_id",
    },
    "financialaid_tier": {"id", "name"},
    "financialaid_tierprogram": {
        "id",
        "current",
        "program_id",
        "tier_id",
        "income_threshold",
        "discount_amount",
    },
    "financialaid_financialaid": {
        "id",
        "status",
        "income_usd",
        "original_income",
        "original_currency",
        "country_of_income",
        "date_exchange_rate",
        "user_id",
        "tier_program_id",
        "created_on",
        "updated_on",
        "date_documents_sent",
        "justification",
        "country_of_residence",
    },
    "ecommerce_order": {
        "id",
        "status",
        "created_at",
        "modified_at",
        "total_price_paid",
        "user_id",
        "reference_number",
    },
    "ecommerce_line": {"id", "course_key", "created_at", "modified_at", "order_id"},
    "ecommerce_receipt": {"id", "data", "created_at", "modified_at", "order_id"},
}


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


# The enrollment modes shipped as constants from the source; any other value is fetched and
# read exactly (step 003 decides which modes it accepts).
MODES = (
    "audit",
    "verified",
    "honor",
    "professional",
    "no-id-professional",
    "credit",
    "masters",
    "executive-education",
)
JSON_IS_BOOLEAN = """(data @> '{{"{key}": true}}' OR data @> '{{"{key}": false}}')"""
# The key's JSON value when it is a boolean (the rows whose value it leaves NULL are fetched
# whole and read exactly, `data -> key`).
JSON_BOOLEAN = """CASE WHEN data @> '{{"{key}": true}}' THEN 'true'::jsonb
                      WHEN data @> '{{"{key}": false}}' THEN 'false'::jsonb END"""
JSON_ONE_OF = "CASE {cases} END"

# A staged column holding, per row, the fingerprint hash of the source columns the copy does
# not keep (see fingerprint.staged_fingerprint).
SOURCE_HASH = "source_hash"


def source_hash_expression(
    read: tuple[str, ...], unkept: dict[str, str | None], when: str | None = None
) -> str:
    """The per-row hash of the `unkept` columns (with their source types), as the fingerprint
    combines them.

    `read` is every source column the copy reads, sorted: a column's place in it is the seed
    of its hash, and its type chooses the hash function (`hashing.template`), exactly as
    `fingerprint.source_fingerprint` computes it. With `when` (a copy whose shippable
    stand-ins decide most rows), only the rows recomputed from the unkept columns carry it:
    every other row is fingerprinted by the values it was staged with, so the JSON documents
    of a handful of rows are hashed instead of a million (and staging hashes them locally,
    over the documents it fetched for those rows anyway).
    """
    hashes = " # ".join(
        hashing.expression(column, kind, read.index(column)) for column, kind in unkept.items()
    )
    return f"CASE WHEN {when} THEN {hashes} END" if when else hashes


# The cached enrollments whose `is_active` or `mode` the shippable stand-ins cannot decide:
# fetched whole and read exactly (see copy_statements).
ENROLLMENT_TO_RECOMPUTE = (
    f"NOT ({JSON_IS_BOOLEAN.format(key='is_active')} AND ("
    + " OR ".join(f"""data @> '{{"mode": "{mode}"}}'""" for mode in MODES)
    + "))"
)

HASH_AS_UUID = "CASE WHEN hash ~ '^[0-9a-fA-F]{32}$' THEN hash::uuid END"

STAGED_TABLES = {
    table.name: table
    for table in [
        StagedTable(
            "mm_mitxonline_uid",
            "social_auth_usersocialauth",
            _same("id", "user_id", "uid"),
            where="provider = 'mitxonline'",
            # Narrowed to one learner (explain), the copy keeps every user claiming one of the
            # learner's uids too: without them a shared uid would not look ambiguous.
            narrow="uid IN (SELECT uid FROM {source} WHERE provider = 'mitxonline' "
            "AND user_id = ANY(%s))",
        ),
        StagedTable(
            "mm_courserun",
            "courses_courserun",
            _same(
                "id",
                "course_id",
                "title",
                "edx_course_key",
                "enrollment_url",
                "start_date",
                "end_date",
                "enrollment_start",
                "enrollment_end",
                "upgrade_deadline",
                "courseware_backend",
                "is_discontinued",
            ),
            indexes=("id", "edx_course_key"),
            user_column=None,
        ),
        StagedTable(
            "mm_exam_course",
            "exams_examrun",
            {"course_id": "course_id"},
            indexes=("course_id",),
            user_column=None,
        ),
        StagedTable(
            "mm_cachedenrollment",
            "dashboard_cachedenrollment",
            {
                "id": "id",
                "user_id": "user_id",
                "course_run_id": "course_run_id",
                # The JSON value itself, never cast here: "maybe" must not stop the copy,
                # step 003 classifies it.
                "is_active": "data -> 'is_active'",
                "mode": "data ->> 'mode'",
                # The JSON document's share of the table's fingerprint for the rows read
                # exactly (NULL for the others), computed in the same scan over the documents
                # fetched for them: the run fingerprints the copy without reading the source a
                # second time.
                SOURCE_HASH: source_hash_expression(
                    ("course_run_id", "data", "id", "user_id"),
                    {"data": "jsonb"},
                    ENROLLMENT_TO_RECOMPUTE,
                ),
            },
            pushdown={
                "is_active": JSON_BOOLEAN.format(key="is_active"),
                "mode": JSON_ONE_OF.format(
                    key="mode",
                    cases=" ".join(
                        f"""WHEN data @> '{{"mode": "{mode}"}}' THEN '{mode}'""" for mode in MODES
                    ),
                ),
            },
            recompute_when=ENROLLMENT_TO_RECOMPUTE,
            decided={
                "is_active": (JSON_BOOLEAN.format(key="is_active"), "is_active", "jsonb"),
                "mode": (
                    JSON_ONE_OF.format(
                        key="mode",
                        cases=" ".join(
                            f"""WHEN data @> '{{"mode": "{mode}"}}' THEN {n}"""
                            for n, mode in enumerate(MODES, 1)
                        ),
                    ),
                    "array_position(ARRAY[{}]::text[], mode)".format(
                        ", ".join(f"'{mode}'" for mode in MODES)
                    ),
                    "int4",
                ),
            },
        ),
        StagedTable(
            "mm_programenrollment",
            "dashboard_programenrollment",
            _same("id", "user_id", "program_id"),
        ),
        StagedTable(
            "mm_finalgrade",
            "grades_finalgrade",
            _same("id", "user_id", "course_run_id", "grade", "created_on", "updated_on"),
            where="status = 'complete' AND passed AND grade IS NOT NULL",
        ),
        StagedTable(
            "mm_passed_exam",
            "grades_proctoredexamgrade",
            _same("id", "user_id", "course_id", "score"),
            where="passed",
            indexes=("user_id, course_id",),
        ),
        StagedTable(
            "mm_coursecert",
            "grades_micromasterscoursecertificate",
            {
                **_same("id", "user_id", "course_id", "hash", "created_on", "updated_on"),
                "uuid": HASH_AS_UUID,
            },
            indexes=("uuid",),
        ),
        StagedTable(
            "mm_programcert",
            "grades_micromastersprogramcertificate",
            {
                **_same("id", "user_id", "program_id", "hash", "created_on", "updated_on"),
                "uuid": HASH_AS_UUID,
            },
        ),
        StagedTable(
            "mm_tierprogram",
            "financialaid_tierprogram",
            _same("id", "program_id", "current"),
            indexes=("id",),
            user_column=None,
        ),
        StagedTable(
            "mm_financialaid",
            "financialaid_financialaid",
            _same(*sorted(KNOWN_SOURCE_COLUMNS["financialaid_financialaid"])),
        ),
        StagedTable(
            "mm_order",
            "ecommerce_order",
            _same(*sorted(KNOWN_SOURCE_COLUMNS["ecommerce_order"])),
            indexes=("id", "reference_number"),
        ),
        StagedTable(
            "mm_line",
            "ecommerce_line",
            _same("id", "order_id", "course_key", "created_at", "modified_at"),
            indexes=("order_id",),
            user_column=None,
            parent=("order_id", "mm_order"),
        ),
        StagedTable(
            "mm_receipt",
            "ecommerce_receipt",
            {
                **_same("id", "order_id", "data", "created_at", "modified_at"),
                "transaction_id": "data ->> 'transaction_id'",
            },
            indexes=("order_id",),
            unanalyzed=("data",),
            user_column=None,
            parent=("order_id", "mm_order"),
        ),
    ]
}

# Built locally from a staged copy and MITx Online's own tables, once per run: the identity
# map every step reaches MITx Online accounts through. It is one-to-one or nothing: a
# MicroMasters user whose link is ambiguous (several uids, a uid another MicroMasters user also
# claims, or a uid matching several MITx Online users) gets no account (`user_id` NULL) and
# `ambiguous`, which every step reports as `ambiguous_mitxonline_link`. With usernames compared
# exactly, two MicroMasters users can only reach one account through one shared uid, so the
# map gives no account to two of them; the post-run checks verify it (invariants.py).
# Every aggregate hashes (min and max, not distinct counts), so the map costs a few scans.
LEARNER_SQL = """
CREATE TEMP TABLE mm_learner AS
SELECT mm_user_id, uid, CASE WHEN NOT ambiguous THEN user_id END AS user_id, ambiguous
  FROM (SELECT s.user_id AS mm_user_id, min(s.uid COLLATE "C") AS uid, min(u.id) AS user_id,
               min(s.uid COLLATE "C") <> max(s.uid COLLATE "C")
               OR min(u.id) <> max(u.id)
               OR bool_or(s.uid IN (SELECT uid FROM mm_mitxonline_uid
                                     GROUP BY uid HAVING min(user_id) <> max(user_id)))
               AS ambiguous
          FROM mm_mitxonline_uid s
          LEFT JOIN users_user u ON u.username = s.uid
         GROUP BY s.user_id) AS linked;
CREATE UNIQUE INDEX ON mm_learner (mm_user_id);
ANALYZE mm_learner;
"""
DERIVED_TABLES = {"mm_learner": (LEARNER_SQL, ("mm_mitxonline_uid",))}


def referenced_tables(text: str) -> set[str]:
    """The staged tables a step's SQL reads (its `mm_*` names)."""
    return set(STAGED_NAME.findall(text)) & (set(STAGED_TABLES) | set(DERIVED_TABLES))


def closure(names: set[str]) -> list[str]:
    """The staged tables to build, in order, including what derived tables are built from."""
    wanted = set(names)
    for name in names:
        if name in DERIVED_TABLES:
            wanted.update(DERIVED_TABLES[name][1])
        if name in STAGED_TABLES and STAGED_TABLES[name].parent:
            wanted.add(STAGED_TABLES[name].parent[1])
    copies = sorted(
        (name for name in wanted if name in STAGED_TABLES),
        key=lambda name: (STAGED_TABLES[name].parent is not None, name),
    )
    derived = sorted(name for name in wanted if name in DERIVED_TABLES)
    return copies + derived


def source_tables(names: set[str]) -> dict[str, set[str]]:
    """The MicroMasters tables (and their columns) that staging these tables reads."""
    needed: dict[str, set[str]] = {}
    for name in closure(names):
        if name in STAGED_TABLES:
            table = STAGED_TABLES[name]
            needed.setdefault(table.source, set()).update(table.source_columns())
    return needed


@dataclass(frozen=True)
class Buckets:
    """Learners chosen by bucket: every MicroMasters user whose `id mod modulus` is one of
    `buckets`, and the users `also` (whom a rule compares with them).

    A re-run narrowed to the learners whose rows changed stages only theirs; the bucket test
    is shipped to the source with the copy's query.
    """

    modulus: int
    buckets: tuple[int, ...]
    also: tuple[int, ...] = ()


def copy_statements(
    table: StagedTable,
    schema: str = SOURCE_SCHEMA,
    mm_user_ids: list[int] | None = None,
    parent_ids: list[int] | None = None,
    remote: bool = False,
    buckets: Buckets | None = None,
) -> list[tuple[sql.Composable, list]]:
    """The statements that build one staged copy; `mm_user_ids` or `buckets` narrow it to
    some learners.

    When narrowed, a table without a user column but with a parent (order lines, receipts)
    keeps only the rows of the parent rows already staged (`parent_ids`). A copy with its own
    `narrow` rule (the links) is not narrowed by bucket: it is staged whole.

    For a foreign (`remote`) source with `pushdown` columns, the copy reads the source once,
    in a query postgres_fdw ships whole (see `_pushdown_select`): only the small computed
    values cross the network, and each row's JSON document only for the few rows whose
    values the shippable stand-ins cannot decide.
    """
    use_pushdown = remote and table.pushdown is not None
    name = sql.Identifier(table.name)
    source = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.source))
    conditions = [sql.SQL(table.where)] if table.where else []
    params: list = []
    if mm_user_ids is not None and table.user_column:
        narrow = table.narrow or "{column} = ANY(%s)"
        conditions.append(
            sql.SQL(narrow).format(source=source, column=sql.Identifier(table.user_column))
        )
        params.append(list(mm_user_ids))
    elif buckets is not None and table.user_column and not table.narrow:
        conditions.append(
            sql.SQL("(mod({column}, {modulus}) = ANY(%s) OR {column} = ANY(%s))").format(
                column=sql.Identifier(table.user_column), modulus=buckets.modulus
            )
        )
        params += [list(buckets.buckets), list(buckets.also)]
    elif parent_ids is not None and table.parent:
        conditions.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(table.parent[0])))
        params.append(list(parent_ids))
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    if use_pushdown:
        select = _pushdown_select(table, source, where)
    else:
        select = sql.SQL("SELECT {} FROM {}{}").format(_select_list(table.columns), source, where)
    statements = [
        (sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(name), []),
        (sql.SQL("CREATE TEMP TABLE {} AS {}").format(name, select), params),
    ]
    statements += [
        (sql.SQL("CREATE INDEX ON {} ({})").format(name, sql.SQL(columns)), [])
        for columns in table.indexes
    ]
    statements.append((_analyze(table), []))
    return statements


def _analyze(table: StagedTable) -> sql.Composable:
    """Fresh statistics for the planner, of every column a plan may need them of."""
    name = sql.Identifier(table.name)
    if not table.unanalyzed:
        return sql.SQL("ANALYZE {}").format(name)
    columns = [column for column in table.columns if column not in table.unanalyzed]
    return sql.SQL("ANALYZE {} ({})").format(name, sql.SQL(", ").join(map(sql.Identifier, columns)))


def _select_list(expressions: dict[str, str]) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.SQL(expr), sql.Identifier(col))
        for col, expr in expressions.items()
    )


def _pushdown_select(table: StagedTable, source: sql.Composable, where: sql.Composable):
    """The copy as one query on the source that postgres_fdw ships whole, and a thin local
    projection over it.

    The inner query is a no-op GROUP BY over every column, id included, so it merges no
    rows; postgres_fdw ships an aggregate whole, expressions included (it ships none of a
    plain scan's). It returns the kept columns, the shippable stand-ins, and the unkept
    columns (the JSON document) only where `recompute_when` holds, NULL elsewhere: a row
    came whole exactly when one of them is not NULL. The outer SELECT reads the exact values
    (`->`, `->>`, which do not ship) from those few documents and keeps the stand-ins of
    every other row; a column computed from unkept columns (the fingerprint's `SOURCE_HASH`)
    is computed over them too, and is NULL for the rows the stand-ins decide. One scan of
    the source, no second query, no UPDATE.

    The outer SELECT tests only for NULL: the planner prices the projection per row it
    expects, and expects ten times fewer from grouping locally (which would fetch every
    document) than the source estimates, so a costlier projection would tip it there.
    """
    fetched = table.unkept_columns()  # fetched for the rows `recompute_when` selects only
    kept = {col: expr for col, expr in table.columns.items() if col == expr}
    clash = (set(kept) | set(table.pushdown)) & set(fetched)
    assert not clash, f"{table.name}: {clash} both fetched and computed"
    inner = {
        **kept,
        **table.pushdown,
        **{col: f"CASE WHEN {table.recompute_when} THEN {col} END" for col in fetched},
    }
    positions = ", ".join(str(n) for n in range(1, len(inner) + 1))
    shipped = sql.SQL("SELECT {} FROM {}{} GROUP BY {}").format(
        _select_list(inner), source, where, sql.SQL(positions)
    )
    came_whole = " OR ".join(f"{col} IS NOT NULL" for col in fetched)
    guard = f"CASE WHEN {table.recompute_when} THEN "
    outer = {}
    for col, expr in table.columns.items():
        if col in kept:
            outer[col] = col
        elif col in table.pushdown:
            outer[col] = f"CASE WHEN {came_whole} THEN {expr} ELSE {col} END"
        else:
            # `CASE WHEN <recompute_when> THEN x END` is x on the rows that came whole.
            if expr.startswith(guard) and expr.endswith(" END"):
                expr = expr[len(guard) : -len(" END")]
            outer[col] = f"CASE WHEN {came_whole} THEN {expr} END"
    return sql.SQL("SELECT {} FROM ({}) AS shipped").format(_select_list(outer), shipped)


def is_foreign(cursor, schema: str, table: str) -> bool:
    """Whether the source table is mounted through a foreign data wrapper."""
    cursor.execute(
        "SELECT c.relkind = 'f' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        [schema, table],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def uses_remote_estimates(cursor, schema: str, table: str) -> bool:
    """Whether postgres_fdw plans with the source's own estimates for this foreign table
    (`use_remote_estimate`, set on the table or else on its server)."""
    cursor.execute(
        "SELECT coalesce((SELECT option_value FROM pg_options_to_table(t.ftoptions)"
        "                  WHERE option_name = 'use_remote_estimate'),"
        "                (SELECT option_value FROM pg_options_to_table(s.srvoptions)"
        "                  WHERE option_name = 'use_remote_estimate'), 'false')"
        "  FROM pg_foreign_table t JOIN pg_foreign_server s ON s.oid = t.ftserver"
        " WHERE t.ftrelid = to_regclass(quote_ident(%s) || '.' || quote_ident(%s))",
        [schema, table],
    )
    row = cursor.fetchone()
    return bool(row) and row[0].strip().lower() in ("true", "on", "yes", "1")


@contextmanager
def local_aggregation_disabled(cursor, active: bool, source: tuple[str, str] | None = None):
    """Make the planner prefer the remote aggregation path, then restore the settings.

    The no-op GROUP BY of a pushdown copy can run remotely or locally; locally it would fetch
    every JSON document, the very thing it exists to avoid. Local hash and sort aggregation
    are disabled for the statement, which still leaves grouping here rows the source returns
    sorted. With the source's own estimates (`use_remote_estimate`, as the mount is set up,
    on `source`, the foreign table), that path was priced within a few percent of the
    shipped one, below it for a copy narrowed by bucket, and below it for every copy once
    the local projection of the odd rows was added (priced per row, and grouping here is
    expected to return ten times fewer): local operators, which that path needs for every
    shipped expression, are then priced a hundred times higher, leaving the shipped path
    cheaper by far. Without remote estimates postgres_fdw prices the shipped expressions
    here too, and the higher price would favour grouping here: the price is left alone. JIT
    goes off with it (the inflated cost would have the statement compiled). The results are
    the same either way.
    """
    if not active:
        yield
        return
    nudged = {"enable_hashagg": "off", "enable_sort": "off"}
    priced = source is not None and uses_remote_estimates(cursor, *source)
    if priced:
        nudged |= {"cpu_operator_cost": "", "jit": "off"}
    names = list(nudged)
    cursor.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), names)
    before = dict(zip(names, cursor.fetchone(), strict=True))
    if priced:
        nudged["cpu_operator_cost"] = str(float(before["cpu_operator_cost"]) * 100)
    _set_local(cursor, nudged)
    # No try/finally: if the statements fail, the rollback discards these settings anyway,
    # and a query in the aborted transaction would hide the real error.
    yield
    _set_local(cursor, before)


def _set_local(cursor, settings: dict[str, str]) -> None:
    """Set these settings for the rest of the transaction, in one round trip."""
    cursor.execute(
        "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings),
        [value for item in settings.items() for value in item],
    )


def stage(
    cursor,
    names: set[str],
    schema: str = SOURCE_SCHEMA,
    mm_user_ids: list[int] | None = None,
    on_table: Callable[[str, int, float], None] | None = None,
    phase: str = "staging",
    buckets: Buckets | None = None,
    keep: frozenset[str] = frozenset(),
) -> list[str]:
    """Build the staged tables the given steps read; returns their names in build order.

    `on_table(name, rows, seconds)` is told of each table as soon as it is built, so that a
    copy of millions of rows shows its progress table by table. The tables named in `keep`
    are already staged as wanted: they are neither built again nor returned.
    """
    built = [name for name in closure(names) if name not in keep]
    for name in built:
        with timing.phase(f"{phase}.{name}") as counted:
            _build(cursor, name, schema, mm_user_ids, on_table, counted, buckets)
    return built


def _build(cursor, name, schema, mm_user_ids, on_table, counted: dict, buckets=None) -> None:
    """Build one staged table; tell `on_table`, and `counted` its rows and bytes."""
    started = time.monotonic()
    if name in STAGED_TABLES:
        table = STAGED_TABLES[name]
        parent_ids = None
        if (mm_user_ids is not None or buckets is not None) and table.parent:
            cursor.execute(
                sql.SQL("SELECT array_agg(id) FROM {}").format(sql.Identifier(table.parent[1]))
            )
            parent_ids = cursor.fetchone()[0] or []
        remote = is_foreign(cursor, schema, table.source)
        rows = None
        if buckets is not None and table.user_column and not table.narrow:
            ids = bucket_ids(cursor, schema, table, buckets)
            if ids is not None:
                mm_user_ids, buckets = ids, None
        pushdown = remote and table.pushdown is not None
        with local_aggregation_disabled(cursor, pushdown, (schema, table.source)):
            for index, (statement, params) in enumerate(
                copy_statements(table, schema, mm_user_ids, parent_ids, remote, buckets)
            ):
                cursor.execute(statement, params or None)
                if index == 1:  # CREATE TEMP TABLE ... AS: its row count, without a scan
                    rows = cursor.rowcount
    else:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.%s" % name)  # noqa: UP031
        cursor.execute(DERIVED_TABLES[name][0])
        rows = None
    if on_table or timing.enabled():
        seconds = time.monotonic() - started
        if rows is None or rows < 0:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name)))
            rows = cursor.fetchone()[0]
        counted["rows"] = rows
        if on_table:
            on_table(name, counted["rows"], seconds)
    if timing.enabled():
        cursor.execute("SELECT pg_table_size(%s)", [f"pg_temp.{name}"])
        counted["bytes"] = cursor.fetchone()[0]


# Up to how many user ids a narrowed copy asks the source for by id (see bucket_ids).
MAX_BUCKET_IDS = 100_000


def bucket_ids(cursor, schema: str, table: StagedTable, buckets: Buckets) -> list[int] | None:
    """Every user id of the buckets within the range of the copy's user ids on the source.

    Asking the source for `user_id = ANY(ids)` reads the learners' rows through its index;
    `mod(user_id, n) = ANY(buckets)` reads the whole table. The range (the column's min and
    max, an index lookup) makes the list exact: no user id of a bucket lies outside it. None
    (the bucket test is used) when the list would be long, or the ids are not positive.
    """
    source = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.source))
    column = sql.Identifier(table.user_column)
    cursor.execute(sql.SQL("SELECT min({c}), max({c}) FROM {s}").format(c=column, s=source))
    low, high = cursor.fetchone()
    if low is None:
        return list(buckets.also)
    if low < 0 or (high - low) // buckets.modulus * len(buckets.buckets) > MAX_BUCKET_IDS:
        return None
    ids = set(buckets.also)
    for bucket in buckets.buckets:
        ids.update(range(low + (bucket - low) % buckets.modulus, high + 1, buckets.modulus))
    return sorted(ids)


def drop(cursor, names: list[str]) -> None:
    """Drop staged tables, so a long-lived session does not keep stale source copies."""
    for name in names:
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(name)))
