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
  aggregates that postgres_fdw pushes down to MicroMasters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from psycopg import sql

from micromasters_import import app_settings
from micromasters_import.runner import one_line

log = logging.getLogger(__name__)

# Each read is a handful of rows; a mount that takes longer than this is reported unreachable.
TIMEOUT_MS = 15000


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


def _read(schema: str, tables: list[str], build, optional: tuple[str, ...] = ()):
    """Run `build(cursor, schema, present_optional)` against the source, inside a savepoint.

    Raises _Unavailable (never a database error) when the schema or a required table is
    missing or the read fails; the savepoint is rolled back, so the caller's connection and
    any transaction it is in stay usable.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            missing = _missing_tables(cursor, schema, [*tables, *optional])
            required_missing = [table for table in missing if table not in optional]
            if required_missing:
                raise _Unavailable(
                    f'The MicroMasters source (schema "{schema}") lacks table(s) '
                    f"{', '.join(required_missing)}: re-run ./manage.py setup_micromasters_fdw."
                )
            # Bounded, and put back afterwards: inside a caller's transaction a released
            # savepoint would otherwise keep the timeout until that transaction ends.
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(TIMEOUT_MS)])
            present = {table for table in optional if table not in missing}
            result = build(cursor, schema, present)
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return result
    except DatabaseError as error:
        first_line = one_line(error)
        log.warning("reading the MicroMasters source failed: %s", first_line)
        raise _Unavailable(
            f'The MicroMasters source (schema "{schema}") could not be read: {first_line}'
        ) from error


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


def courses(ids=None, schema: str | None = None) -> dict[int, MMCourse] | None:
    """MicroMasters courses by id (all when `ids` is None); None when the source is unreadable."""
    schema = schema or default_schema()
    if ids is not None and not ids:
        return {}
    where, params = _ids_filter("c.id", ids)

    def build(cursor, schema, _present):
        cursor.execute(
            sql.SQL(
                "SELECT c.id, c.title, c.course_number, c.edx_key, c.program_id, p.title "
                "FROM {} c LEFT JOIN {} p ON p.id = c.program_id{} ORDER BY c.id"
            ).format(_table(schema, "courses_course"), _table(schema, "courses_program"), where),
            params,
        )
        return {row[0]: MMCourse(*row) for row in cursor.fetchall()}

    try:
        return _read(schema, ["courses_course", "courses_program"], build)
    except _Unavailable:
        return None


def programs(ids=None, schema: str | None = None) -> dict[int, MMProgram] | None:
    """MicroMasters programs by id (all when `ids` is None); None when the source is unreadable."""
    schema = schema or default_schema()
    if ids is not None and not ids:
        return {}
    where, params = _ids_filter("p.id", ids)

    def build(cursor, schema, _present):
        cursor.execute(
            sql.SQL("SELECT p.id, p.title, p.live FROM {} p{} ORDER BY p.id").format(
                _table(schema, "courses_program"), where
            ),
            params,
        )
        return {row[0]: MMProgram(*row) for row in cursor.fetchall()}

    try:
        return _read(schema, ["courses_program"], build)
    except _Unavailable:
        return None


def tier_programs(ids=None, schema: str | None = None) -> dict[int, MMTierProgram] | None:
    """MicroMasters tier programs by id, with tier name and program title; None if unreadable.

    The tier name comes from `financialaid_tier` when it is mounted (older mounts lack it).
    """
    schema = schema or default_schema()
    if ids is not None and not ids:
        return {}
    where, params = _ids_filter("tp.id", ids)

    def build(cursor, schema, present):
        has_tier = "financialaid_tier" in present
        tier_join = (
            sql.SQL(" LEFT JOIN {} t ON t.id = tp.tier_id").format(
                _table(schema, "financialaid_tier")
            )
            if has_tier
            else sql.SQL("")
        )
        cursor.execute(
            sql.SQL(
                "SELECT tp.id, tp.program_id, p.title, {}, tp.income_threshold, "
                "tp.discount_amount, tp.current "
                "FROM {} tp LEFT JOIN {} p ON p.id = tp.program_id{}{} ORDER BY tp.id"
            ).format(
                sql.SQL("t.name" if has_tier else "NULL::text"),
                _table(schema, "financialaid_tierprogram"),
                _table(schema, "courses_program"),
                tier_join,
                where,
            ),
            params,
        )
        return {row[0]: MMTierProgram(*row) for row in cursor.fetchall()}

    try:
        return _read(
            schema,
            ["financialaid_tierprogram", "courses_program"],
            build,
            optional=("financialaid_tier",),
        )
    except _Unavailable:
        return None


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
