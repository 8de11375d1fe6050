"""Read the MicroMasters side of the ID mappings through the mount, briefly and safely.

The operator's admin shows, next to each MicroMasters id, what it is in MicroMasters (a
course's number and title, a program's title, a tier's name and income threshold), and
refuses ids that do not exist there. Those reads go to the `micromasters` schema, which is a
`postgres_fdw` mount in production and may be absent (not mounted yet) or unreachable (the
remote server is down). So every read here:

* checks first that the schema and the tables it reads exist (`to_regnamespace`,
  `to_regclass`), and returns None when they do not, instead of raising;
* runs inside a savepoint (`transaction.atomic`), so a failing remote never leaves the
  request's connection in an aborted transaction;
* is one short query, bounded by a statement timeout, reading a few columns (by id when
  the caller has ids), never a whole table of learner rows: the learner-data counts are
  aggregates that postgres_fdw pushes down to MicroMasters;
* connects with a short `connect_timeout` (CONNECT_TIMEOUT_S): PostgreSQL 15's postgres_fdw
  waits for a connection without heeding the statement timeout, so a MicroMasters server
  that accepts connections and never answers would hold each read for the foreign server's
  own timeout (10 s as `setup_micromasters_fdw` sets it, for the import). The read lowers
  the option on the foreign server inside its own savepoint, which it always rolls back, so
  nobody else ever sees the change (a role that does not own the server keeps its timeout);
* within one page view (`one_visit`), remembers a failed read: the page's later reads say
  the same at once, so a hanging source costs a page one short wait, however many reads it
  makes.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from psycopg import sql

from micromasters_import import app_settings
from micromasters_import.mount.source_url import database_cause
from micromasters_import.mount.tables import explain_mount_error, mount_of

log = logging.getLogger(__name__)

# Each read is a handful of rows; a mount that takes longer than this is reported unreachable.
TIMEOUT_MS = 15000
# How long a read waits for MicroMasters to accept a connection (libpq's minimum is 2 s).
CONNECT_TIMEOUT_S = 3
# How long a read waits for another page's uncommitted change to the server's options.
OPTIONS_LOCK_TIMEOUT_MS = 5000


@dataclass
class _Visit:
    """What one page view learnt about the source: why it could not be read, if it could not."""

    failure: str | None = None


_visit: ContextVar[_Visit | None] = ContextVar("micromasters_source_visit", default=None)


@contextmanager
def one_visit():
    """One page view: after a read fails, the later reads in the block fail at once, alike.

    The admin wraps each operator page (and its rendering) in this block.
    """
    token = _visit.set(_Visit())
    try:
        yield
    finally:
        _visit.reset(token)


def default_schema() -> str:
    """Where MicroMasters is mounted: MICROMASTERS_SCHEMA, else `micromasters`."""
    return app_settings.source_schema()


@dataclass(frozen=True)
class MMProgram:
    """A MicroMasters program (`courses_program`)."""

    id: int
    title: str
    live: bool

    @property
    def label(self) -> str:
        """How the admin shows it."""
        return self.title


@dataclass(frozen=True)
class MMCourse:
    """A MicroMasters course (`courses_course`) and the title of its program."""

    id: int
    title: str
    course_number: str | None
    edx_key: str | None
    program_id: int | None
    program_title: str | None

    @property
    def label(self) -> str:
        """`14.100x Microeconomics`."""
        return f"{self.course_number} {self.title}" if self.course_number else self.title


@dataclass(frozen=True)
class MMTierProgram:
    """A MicroMasters tier program (`financialaid_tierprogram`): one price tier of a program."""

    id: int
    program_id: int
    program_title: str | None
    tier_name: str | None
    income_threshold: int
    discount_amount: int
    current: bool

    @property
    def label(self) -> str:
        """`Tier 2, income >= $25,000, $750 off (Program title)`."""
        name = self.tier_name or "tier"
        current = "" if self.current else ", not current"
        program = f" ({self.program_title})" if self.program_title else ""
        return (
            f"{name}, income >= ${self.income_threshold:,}, "
            f"${self.discount_amount:,} off{current}{program}"
        )


@dataclass(frozen=True)
class LearnerData:
    """What MicroMasters holds about learners of one course, program or tier program."""

    enrollments: int = 0
    certificates: int = 0
    requests: int = 0  # financial aid requests, for tier programs

    @property
    def total(self) -> int:
        """Rows that would be lost without a mapping."""
        return self.enrollments + self.certificates + self.requests

    def describe(self) -> str:
        """`12 enrollments, 3 certificates`."""
        parts = []
        for count, word in (
            (self.enrollments, "enrollment"),
            (self.certificates, "certificate"),
            (self.requests, "financial aid request"),
        ):
            if count:
                parts.append(f"{count} {word}{'' if count == 1 else 's'}")
        return ", ".join(parts) or "no learner data"


class _Unavailable(Exception):
    """The source cannot be read; the message says why, for the operator."""


def _missing_tables(cursor, schema: str, tables: list[str]) -> list[str]:
    cursor.execute("SELECT to_regnamespace(quote_ident(%s)) IS NOT NULL", [schema])
    if not cursor.fetchone()[0]:
        raise _Unavailable(not_mounted_message(schema))
    cursor.execute(
        "SELECT t FROM unnest(%s::text[]) AS t "
        "WHERE to_regclass(quote_ident(%s) || '.' || quote_ident(t)) IS NULL ORDER BY t",
        [tables, schema],
    )
    return [row[0] for row in cursor.fetchall()]


def not_mounted_message(schema: str) -> str:
    """What the admin says when there is no mount."""
    return (
        f'The MicroMasters source is not mounted: schema "{schema}" does not exist. '
        "Mount it with ./manage.py setup_micromasters_fdw."
    )


def _shorten_connect_timeout(cursor, schema: str, tables: list[str]) -> int | None:
    """Lower `connect_timeout` on the foreign servers of these tables, for this savepoint.

    Returns the longest connect timeout that now applies (None when no table is foreign,
    or when a server's timeout could not be read as a number). A role that does not own the
    server cannot alter it and keeps the server's own timeout.
    """
    cursor.execute(
        """
        SELECT DISTINCT s.srvname, s.srvoptions
          FROM unnest(%s::text[]) AS t
          JOIN pg_foreign_table f
            ON f.ftrelid = to_regclass(quote_ident(%s) || '.' || quote_ident(t))
          JOIN pg_foreign_server s ON s.oid = f.ftserver
        """,
        [tables, schema],
    )
    longest = 0
    for server, options in cursor.fetchall():
        current = dict(option.split("=", 1) for option in options or [])
        value = current.get("connect_timeout", "")
        if value.isdigit() and 0 < int(value) <= CONNECT_TIMEOUT_S:
            longest = max(longest, int(value))
            continue
        verb = "SET" if "connect_timeout" in current else "ADD"
        try:
            with transaction.atomic():
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)", [str(OPTIONS_LOCK_TIMEOUT_MS)]
                )
                cursor.execute(
                    sql.SQL("ALTER SERVER {} OPTIONS ({} connect_timeout {})").format(
                        sql.Identifier(server), sql.SQL(verb), sql.Literal(str(CONNECT_TIMEOUT_S))
                    )
                )
            longest = max(longest, CONNECT_TIMEOUT_S)
        except DatabaseError:
            # Not the owner (or busy): the server's own timeout applies; unset means none.
            if not value.isdigit() or int(value) <= 0:
                return None
            longest = max(longest, int(value))
    return longest or None


def _unreadable(schema: str, error: Exception, mount, connect_timeout: int | None) -> str:
    """The page's one sentence for a failed read: "did not answer" when it timed out."""
    cause = database_cause(error)
    diag = getattr(cause, "diag", None)
    parts = [getattr(diag, "message_primary", None), getattr(diag, "message_detail", None)]
    text = " ".join(filter(None, parts)) or str(cause)
    where = f", server {mount.source.host}:{mount.source.port}" if mount else ""
    timed_out = None
    if "timeout expired" in text and connect_timeout:
        timed_out = connect_timeout
    elif getattr(cause, "sqlstate", None) == "57014" and "statement timeout" in text:
        timed_out = TIMEOUT_MS // 1000
    if timed_out:
        return (
            f'The MicroMasters source (schema "{schema}"{where}) did not answer within '
            f"{timed_out} s: it is down, unreachable or overloaded."
        )
    if "timeout expired" in text:
        return f'The MicroMasters source (schema "{schema}"{where}) did not answer.'
    reason = explain_mount_error(error, mount)
    return f'The MicroMasters source (schema "{schema}") could not be read: {reason}'


def _read(schema: str, tables: list[str], build, optional: tuple[str, ...] = ()):
    """Run `build(cursor, schema, present_optional)` against the source, inside a savepoint.

    Raises _Unavailable (never a database error) when the schema or a required table is
    missing or the read fails. The savepoint is always rolled back (the read changed
    nothing but its timeouts), so the caller's connection and any transaction it is in stay
    usable and unchanged.
    """
    visit = _visit.get()
    if visit is not None and visit.failure:
        raise _Unavailable(visit.failure)
    mount = connect_timeout = None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            missing = _missing_tables(cursor, schema, [*tables, *optional])
            required_missing = [table for table in missing if table not in optional]
            if required_missing:
                raise _Unavailable(
                    f'The MicroMasters source (schema "{schema}") lacks table(s) '
                    f"{', '.join(required_missing)}: re-run ./manage.py setup_micromasters_fdw."
                )
            mount = mount_of(cursor, schema)
            present = {table for table in optional if table not in missing}
            connect_timeout = _shorten_connect_timeout(cursor, schema, [*tables, *present])
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(TIMEOUT_MS)])
            result = build(cursor, schema, present)
            transaction.set_rollback(True)
            return result
    except DatabaseError as error:
        message = _unreadable(schema, error, mount, connect_timeout)
        log.warning("reading the MicroMasters source failed: %s", message)
        if visit is not None:
            visit.failure = message
        raise _Unavailable(message) from error


def _table(schema: str, name: str) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def problem(schema: str | None = None) -> str | None:
    """None when the source can be read now, otherwise one sentence saying why not.

    Reads one row of `courses_program`, so an unreachable remote server is caught too (the
    catalog alone would say the foreign tables exist).
    """
    schema = schema or default_schema()

    def probe(cursor, schema, _present):
        cursor.execute(
            sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1) AS one").format(
                _table(schema, "courses_program")
            )
        )
        cursor.fetchone()

    try:
        _read(schema, ["courses_program", "courses_course", "financialaid_tierprogram"], probe)
    except _Unavailable as error:
        return str(error)
    return None


def _ids_filter(column: str, ids) -> tuple[sql.Composable, list]:
    if ids is None:
        return sql.SQL(""), []
    return sql.SQL(" WHERE {} = ANY(%s)").format(sql.SQL(column)), [sorted({int(i) for i in ids})]


def _by_id(ids, schema, id_column, row_type, tables, select, optional=()):
    """Rows of one kind by id (all when `ids` is None), each a `row_type` of its columns:
    `select(schema, present, where)` is the query, its id first and `where` before its ORDER BY.
    {} when no ids are asked for; None when the source is unreadable."""
    schema = schema or default_schema()
    if ids is not None and not ids:
        return {}
    where, params = _ids_filter(id_column, ids)

    def build(cursor, schema, present):
        cursor.execute(select(schema, present, where), params)
        return {row[0]: row_type(*row) for row in cursor.fetchall()}

    try:
        return _read(schema, tables, build, optional=optional)
    except _Unavailable:
        return None


def courses(ids=None, schema: str | None = None) -> dict[int, MMCourse] | None:
    """MicroMasters courses by id (all when `ids` is None); None when the source is unreadable."""

    def select(schema, _present, where):
        return sql.SQL(
            "SELECT c.id, c.title, c.course_number, c.edx_key, c.program_id, p.title "
            "FROM {} c LEFT JOIN {} p ON p.id = c.program_id{} ORDER BY c.id"
        ).format(_table(schema, "courses_course"), _table(schema, "courses_program"), where)

    return _by_id(ids, schema, "c.id", MMCourse, ["courses_course", "courses_program"], select)


def programs(ids=None, schema: str | None = None) -> dict[int, MMProgram] | None:
    """MicroMasters programs by id (all when `ids` is None); None when the source is unreadable."""

    def select(schema, _present, where):
        return sql.SQL("SELECT p.id, p.title, p.live FROM {} p{} ORDER BY p.id").format(
            _table(schema, "courses_program"), where
        )

    return _by_id(ids, schema, "p.id", MMProgram, ["courses_program"], select)


def tier_programs(ids=None, schema: str | None = None) -> dict[int, MMTierProgram] | None:
    """MicroMasters tier programs by id, with tier name and program title; None if unreadable.

    The tier name comes from `financialaid_tier` when it is mounted (older mounts lack it).
    """

    def select(schema, present, where):
        has_tier = "financialaid_tier" in present
        tier_join = (
            sql.SQL(" LEFT JOIN {} t ON t.id = tp.tier_id").format(
                _table(schema, "financialaid_tier")
            )
            if has_tier
            else sql.SQL("")
        )
        return sql.SQL(
            "SELECT tp.id, tp.program_id, p.title, {}, tp.income_threshold, "
            "tp.discount_amount, tp.current "
            "FROM {} tp LEFT JOIN {} p ON p.id = tp.program_id{}{} ORDER BY tp.id"
        ).format(
            sql.SQL("t.name" if has_tier else "NULL::text"),
            _table(schema, "financialaid_tierprogram"),
            _table(schema, "courses_program"),
            tier_join,
            where,
        )

    return _by_id(
        ids,
        schema,
        "tp.id",
        MMTierProgram,
        ["financialaid_tierprogram", "courses_program"],
        select,
        optional=("financialaid_tier",),
    )


def course_run_keys(schema: str | None = None) -> dict[int, set[str]] | None:
    """The edX course keys of each MicroMasters course's runs, for matching MITx Online runs."""
    schema = schema or default_schema()

    def build(cursor, schema, _present):
        cursor.execute(
            sql.SQL(
                "SELECT course_id, edx_course_key FROM {} "
                "WHERE course_id IS NOT NULL AND edx_course_key IS NOT NULL"
            ).format(_table(schema, "courses_courserun"))
        )
        keys: dict[int, set[str]] = {}
        for course_id, key in cursor.fetchall():
            keys.setdefault(course_id, set()).add(key)
        return keys

    try:
        return _read(schema, ["courses_courserun"], build)
    except _Unavailable:
        return None


@dataclass(frozen=True)
class LearnerDataCounts:
    """Per MicroMasters id: what learners have there (only ids with some data appear)."""

    courses: dict[int, LearnerData]
    programs: dict[int, LearnerData]
    tier_programs: dict[int, LearnerData]


LEARNER_DATA_TABLES = [
    "courses_courserun",
    "dashboard_cachedenrollment",
    "grades_micromasterscoursecertificate",
    "dashboard_programenrollment",
    "grades_micromastersprogramcertificate",
    "financialaid_financialaid",
]


def learner_data(schema: str | None = None) -> LearnerDataCounts | None:
    """Counts of enrollments, certificates and aid requests per course, program and tier.

    Five GROUP BY queries; each reads only foreign tables of one server, so postgres_fdw runs
    the join and the aggregate in MicroMasters and returns one row per course or program.
    """
    schema = schema or default_schema()

    def grouped(cursor, query: str, *tables: str) -> dict[int, int]:
        cursor.execute(sql.SQL(query).format(*(_table(schema, table) for table in tables)))
        return {key: count for key, count in cursor.fetchall() if key is not None}

    def build(cursor, schema, _present):
        course_enrollments = grouped(
            cursor,
            "SELECT r.course_id, count(*) FROM {} e JOIN {} r ON r.id = e.course_run_id "
            "GROUP BY r.course_id",
            "dashboard_cachedenrollment",
            "courses_courserun",
        )
        course_certificates = grouped(
            cursor,
            "SELECT course_id, count(*) FROM {} GROUP BY course_id",
            "grades_micromasterscoursecertificate",
        )
        program_enrollments = grouped(
            cursor,
            "SELECT program_id, count(*) FROM {} GROUP BY program_id",
            "dashboard_programenrollment",
        )
        program_certificates = grouped(
            cursor,
            "SELECT program_id, count(*) FROM {} GROUP BY program_id",
            "grades_micromastersprogramcertificate",
        )
        requests = grouped(
            cursor,
            "SELECT tier_program_id, count(*) FROM {} GROUP BY tier_program_id",
            "financialaid_financialaid",
        )
        return LearnerDataCounts(
            courses={
                key: LearnerData(
                    enrollments=course_enrollments.get(key, 0),
                    certificates=course_certificates.get(key, 0),
                )
                for key in course_enrollments.keys() | course_certificates.keys()
            },
            programs={
                key: LearnerData(
                    enrollments=program_enrollments.get(key, 0),
                    certificates=program_certificates.get(key, 0),
                )
                for key in program_enrollments.keys() | program_certificates.keys()
            },
            tier_programs={key: LearnerData(requests=count) for key, count in requests.items()},
        )

    try:
        return _read(schema, LEARNER_DATA_TABLES, build)
    except _Unavailable:
        return None


# Values read out of a JSON column instead of the whole document, which can be long and, for
# receipts, holds payment details the operator does not need to see.
JSON_FIELDS = {
    "dashboard_cachedenrollment": {
        "is_active": "data ->> 'is_active'",
        "mode": "data ->> 'mode'",
        "course_id (in data)": "data -> 'course_details' ->> 'course_id'",
    },
    "ecommerce_receipt": {
        "transaction_id": "data ->> 'transaction_id'",
        "decision": "data ->> 'decision'",
    },
}


@dataclass(frozen=True)
class SourceRow:
    """One MicroMasters row as the admin describes it: its columns, and its learner's name."""

    table: str
    id: int
    columns: list[tuple[str, object]]
    username: str | None = None


def source_row(table: str, ref: int, schema: str | None = None) -> SourceRow | None:
    """The row `ref` of a MicroMasters table a step reads, with the columns the import uses.

    Returns None when there is no such row; raises LookupError, with the operator's sentence,
    when the source cannot be read. Only tables the import reads (staging's list) are allowed.
    """
    from micromasters_import.engine.staging import KNOWN_SOURCE_COLUMNS

    schema = schema or default_schema()
    if table not in KNOWN_SOURCE_COLUMNS:
        raise LookupError(f"{table} is not a table the import reads")
    names = sorted(KNOWN_SOURCE_COLUMNS[table] - {"id", "data"})
    expressions = {"id": "t.id", **{name: f"t.{name}" for name in names}}
    expressions.update({label: f"t.{expr}" for label, expr in JSON_FIELDS.get(table, {}).items()})
    has_user = "user_id" in KNOWN_SOURCE_COLUMNS[table]

    def build(cursor, schema, _present):
        select = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(sql.SQL(expr), sql.Identifier(label))
            for label, expr in expressions.items()
        )
        user = sql.SQL(", u.username") if has_user else sql.SQL(", NULL")
        join = (
            sql.SQL(" LEFT JOIN {} u ON u.id = t.user_id").format(_table(schema, "auth_user"))
            if has_user
            else sql.SQL("")
        )
        cursor.execute(
            sql.SQL("SELECT {}{} FROM {} t{} WHERE t.id = %s").format(
                select, user, _table(schema, table), join
            ),
            [int(ref)],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return SourceRow(table, int(ref), list(zip(expressions, row[:-1], strict=True)), row[-1])

    try:
        return _read(schema, [table, *(["auth_user"] if has_user else [])], build)
    except _Unavailable as error:
        raise LookupError(str(error)) from error
