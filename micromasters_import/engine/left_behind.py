"""The learners left behind: every MicroMasters learner whose data waits on their account.

The run report counts the rows skipped as `no_linked_account`, `unknown_mitxonline_user` and
`ambiguous_mitxonline_link`; this names the people behind them, all of them, so that someone
can tell them and import them once they link. It holds personal data (usernames, emails,
names), so the admin page and the command are for staff with the
`micromasters_import.view_learners_left_behind` permission only.

It is computed from the source as it is now, the way the steps see it: the identity map is
built exactly as a run builds it (`staging.LEARNER_SQL` over a staged copy of the mitxonline
links), and the rows waiting are counted in the source tables with the same conditions
staging copies them under, grouped by learner on the source side (postgres_fdw ships the
GROUP BY, so only one small row per learner crosses the network). A learner is left behind
when they have at least one such row and the map gives them no MITx Online account; the
reason is the one every step would report, tested in the steps' own order. Whether an
account with the same email exists in MITx Online is shown as a hint for outreach only: the
import never links on email.
"""

import csv
import io
import json
from dataclasses import dataclass, fields

from psycopg import sql

from micromasters_import.engine import staging
from micromasters_import.operator import source_lookup

NO_LINKED_ACCOUNT = "no_linked_account"
UNKNOWN_USER = "unknown_mitxonline_user"
AMBIGUOUS = "ambiguous_mitxonline_link"
REASONS = (NO_LINKED_ACCOUNT, UNKNOWN_USER, AMBIGUOUS)

# What waits for a learner: each kind counted in the staged copy the steps read it from.
WAITING = {
    "enrollments": "mm_cachedenrollment",
    "grades": "mm_finalgrade",
    "course_certificates": "mm_coursecert",
    "program_enrollments": "mm_programenrollment",
    "program_certificates": "mm_programcert",
    "orders": "mm_order",
    "financial_aid": "mm_financialaid",
}
PROFILE = "profiles_profile"  # names, when the mount has it (it is not one the steps read)


@dataclass
class Learner:
    """One learner left behind: who they are, why, and what waits for them."""

    mm_user_id: int
    username: str
    email: str
    full_name: str
    reason: str
    mitxonline_username: str | None
    enrollments: int
    grades: int
    course_certificates: int
    program_enrollments: int
    program_certificates: int
    orders: int
    financial_aid: int
    email_in_mitxonline: bool

    def as_dict(self) -> dict:
        """The learner's fields in column order (`dataclasses.asdict` is ten times slower)."""
        return dict(vars(self))

    @property
    def waiting(self) -> int:
        """Every source row waiting for this learner."""
        return sum(getattr(self, kind) for kind in WAITING)


COLUMNS = [f.name for f in fields(Learner)]


def _count_waiting(cursor, schema: str) -> None:
    """`mm_waiting (user_id, kind, n)`: each learner's rows per kind, grouped at the source."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.mm_waiting")
    cursor.execute("CREATE TEMP TABLE mm_waiting (user_id integer, kind text, n bigint)")
    for kind, name in WAITING.items():
        table = staging.STAGED_TABLES[name]
        where = sql.SQL(" WHERE {}").format(sql.SQL(table.where)) if table.where else sql.SQL("")
        remote = staging.is_foreign(cursor, schema, table.source)
        with staging.local_aggregation_disabled(cursor, remote):
            cursor.execute(
                sql.SQL(
                    "INSERT INTO mm_waiting SELECT user_id, %s, count(*) FROM {}.{}{} "
                    "GROUP BY user_id"
                ).format(sql.Identifier(schema), sql.Identifier(table.source), where),
                [kind],
            )


PIVOT = ", ".join(
    f"coalesce(sum(n) FILTER (WHERE kind = '{kind}'), 0)::int AS {kind}" for kind in WAITING
)
LEFT_BEHIND_SQL = f"""
SELECT w.user_id,
       CASE WHEN l.mm_user_id IS NULL THEN '{NO_LINKED_ACCOUNT}'
            WHEN l.ambiguous THEN '{AMBIGUOUS}'
            ELSE '{UNKNOWN_USER}' END AS reason,
       l.uid, {", ".join(f"w.{kind}" for kind in WAITING)}
  FROM (SELECT user_id, {PIVOT} FROM mm_waiting GROUP BY user_id) AS w
  LEFT JOIN mm_learner l ON l.mm_user_id = w.user_id
 WHERE l.user_id IS NULL
 ORDER BY w.user_id
"""


def _people(cursor, schema: str, ids: list[int], with_profile: bool) -> dict[int, tuple]:
    """Username, email and full name of these MicroMasters users, read at the source."""
    if with_profile:
        # The profile's names are the ones learners gave MicroMasters; auth_user's otherwise.
        name = (
            "CASE WHEN btrim(coalesce(p.first_name, '') || coalesce(p.last_name, '')) <> '' "
            "THEN btrim(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')) "
            "ELSE btrim(u.first_name || ' ' || u.last_name) END"
        )
        join = sql.SQL(" LEFT JOIN {}.{} p ON p.user_id = u.id").format(
            sql.Identifier(schema), sql.Identifier(PROFILE)
        )
    else:
        name, join = "btrim(u.first_name || ' ' || u.last_name)", sql.SQL("")
    cursor.execute(
        sql.SQL(
            "SELECT u.id, u.username, u.email, {} FROM {}.auth_user u{} WHERE u.id = ANY(%s)"
        ).format(sql.SQL(name), sql.Identifier(schema), join),
        [ids],
    )
    return {row[0]: row[1:] for row in cursor.fetchall()}


def _known_emails(cursor, emails: list[str]) -> set[str]:
    """Which of these emails (compared without case) a MITx Online account has."""
    cursor.execute(
        "SELECT DISTINCT lower(email) FROM users_user WHERE lower(email) = ANY(%s)",
        [sorted({email.lower() for email in emails if email})],
    )
    return {row[0] for row in cursor.fetchall()}


def build(schema: str | None = None) -> list[Learner]:
    """Every learner left behind, by MicroMasters id; LookupError if the source is unreadable.

    Runs inside a savepoint that is rolled back: the staged copies it makes vanish with it.
    """
    schema = schema or source_lookup.default_schema()
    tables = sorted({"auth_user", *(staging.STAGED_TABLES[n].source for n in WAITING.values())})

    def read(cursor, schema, present):
        # The import's own statement timeout for admin reads is for one-row lookups; this
        # reads whole tables (a few seconds at 200,000 learners).
        cursor.execute("SELECT set_config('statement_timeout', '0', true)")
        staging.stage(cursor, {"mm_learner"}, schema)
        _count_waiting(cursor, schema)
        cursor.execute(LEFT_BEHIND_SQL)
        rows = cursor.fetchall()
        people = _people(cursor, schema, [row[0] for row in rows], PROFILE in present)
        emails = _known_emails(cursor, [person[1] for person in people.values()])
        learners = []
        for user_id, reason, uid, *counts in rows:
            username, email, full_name = people.get(user_id, ("", "", ""))
            learners.append(
                Learner(
                    user_id,
                    username,
                    email,
                    full_name or "",
                    reason,
                    uid,
                    *counts,
                    email_in_mitxonline=bool(email) and email.lower() in emails,
                )
            )
        return learners

    try:
        return source_lookup._read(schema, tables, read, optional=(PROFILE,))
    except source_lookup._Unavailable as error:
        raise LookupError(str(error)) from error


def totals(learners: list[Learner]) -> dict:
    """How many learners per reason, and how many rows of each kind wait for them."""
    return {
        "learners": len(learners),
        "by_reason": {
            reason: sum(1 for learner in learners if learner.reason == reason) for reason in REASONS
        },
        "waiting": {kind: sum(getattr(learner, kind) for learner in learners) for kind in WAITING},
    }


def as_csv(learners: list[Learner]) -> str:
    """One line per learner, for a spreadsheet or a mail merge."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for learner in learners:
        row = learner.as_dict()
        row["mitxonline_username"] = row["mitxonline_username"] or ""
        row["email_in_mitxonline"] = "yes" if learner.email_in_mitxonline else "no"
        writer.writerow(row.values())
    return out.getvalue()


def as_json(learners: list[Learner]) -> str:
    """The totals and every learner, for tools."""
    return json.dumps(
        {"totals": totals(learners), "learners": [learner.as_dict() for learner in learners]},
        indent=2,
    )


def as_table(learners: list[Learner]) -> str:
    """A terminal table: one line per learner, then the totals."""
    header = (
        f"{'mm id':>8} {'username':<20} {'email':<30} {'name':<24} {'reason':<26} "
        f"{'enr':>4} {'grd':>4} {'ccert':>5} {'penr':>4} {'pcert':>5} {'ord':>4} {'aid':>4} "
        "email in MITx Online"
    )
    lines = [header, "-" * len(header)]
    for learner in learners:
        lines.append(
            f"{learner.mm_user_id:>8} {learner.username[:20]:<20} {learner.email[:30]:<30} "
            f"{learner.full_name[:24]:<24} {learner.reason:<26} {learner.enrollments:>4} "
            f"{learner.grades:>4} {learner.course_certificates:>5} "
            f"{learner.program_enrollments:>4} {learner.program_certificates:>5} "
            f"{learner.orders:>4} {learner.financial_aid:>4} "
            f"{'yes' if learner.email_in_mitxonline else 'no'}"
        )
    summary = totals(learners)
    reasons = ", ".join(f"{n} {reason}" for reason, n in summary["by_reason"].items())
    lines.append(f"{summary['learners']} learners left behind ({reasons})")
    return "\n".join(lines)


RENDERERS = {"table": as_table, "json": as_json, "csv": as_csv}
