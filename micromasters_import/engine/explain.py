"""Explain one learner: every source row of theirs each step considered, and what became of it.

"Where is learner X's certificate?" is the question support will ask after the migration.
The answer is found by running the real steps for that learner alone: the source is staged
for their rows only, every step runs in one transaction that is always rolled back, and each
step's outcomes name the learner's source rows. Nothing is written, not even to the ledger.
"""

from dataclasses import dataclass, field

from django.db import connection, transaction
from psycopg import sql

from micromasters_import.engine import lock, outcomes, staging
from micromasters_import.engine.steps import Step, discover
from micromasters_import.models import ImportedRow

# The MicroMasters table whose rows each step classifies (the `ref` ids it reports), as each
# step file declares it on its `-- Source:` line.
CANDIDATE_TABLE = {step.num: step.source for step in discover() if step.source}
# Steps about catalogue rows, not learners: their outcomes would be about everyone's runs.
NOT_ABOUT_LEARNERS = {"002"}


class UnknownLearner(LookupError):
    """No MicroMasters user matches what the operator typed."""


@dataclass
class Learner:
    """The MicroMasters user being explained."""

    mm_user_id: int
    username: str
    mitxonline_uid: str | None


@dataclass
class StepExplanation:
    """What one step did with the learner's rows."""

    step: Step
    table: str
    outcomes: list[tuple[str, int, list[int]]] = field(default_factory=list)
    # Rows an earlier run imported from these source rows, from the provenance records.
    imported: list[ImportedRow] = field(default_factory=list)


def find_learner(who: str, schema: str = staging.SOURCE_SCHEMA) -> Learner:
    """A MicroMasters user by id, MicroMasters username, or MITx Online username (the uid)."""
    with connection.cursor() as cursor:
        query = sql.SQL(
            """
            SELECT u.id, u.username, s.uid
              FROM {schema}.auth_user u
              LEFT JOIN {schema}.social_auth_usersocialauth s
                     ON s.user_id = u.id AND s.provider = 'mitxonline'
             WHERE u.id = %(id)s OR u.username = %(name)s
                OR u.id = (SELECT user_id FROM {schema}.social_auth_usersocialauth
                            WHERE provider = 'mitxonline' AND uid = %(name)s LIMIT 1)
             ORDER BY (u.username = %(name)s) DESC, u.id
             LIMIT 1
            """
        ).format(schema=sql.Identifier(schema))
        cursor.execute(query, {"id": int(who) if who.isdigit() else None, "name": who})
        row = cursor.fetchone()
    if row is None:
        raise UnknownLearner(f"No MicroMasters user has the id or username {who!r}.")
    return Learner(*row)


def explain(learner: Learner, schema: str = staging.SOURCE_SCHEMA) -> list[StepExplanation]:
    """Run every step for this learner's rows only, inside a transaction that is rolled back."""
    steps = [step for step in discover() if step.reports_outcomes]
    names: set[str] = set()
    for step in steps:
        names |= step.staged_tables
    results: list[StepExplanation] = []
    with lock.import_lock(connection), transaction.atomic(), connection.cursor() as cursor:
        staging.stage(cursor, names, schema, mm_user_ids=[learner.mm_user_id])
        for step in steps:
            cursor.execute(step.sql)
            rows = [
                (code, int(count), list(sample or []))
                for code, count, sample in cursor.fetchall()
                if code != outcomes.INSERTED and count
            ]
            table = CANDIDATE_TABLE.get(step.num, "?")
            results.append(StepExplanation(step, table, sorted(rows)))
        transaction.set_rollback(True)  # nothing the steps did is kept (an error rolls back too)
    for result in results:
        result.imported = imported_from(result)
    return results


def imported_from(result: StepExplanation) -> list[ImportedRow]:
    """What earlier runs of this step imported from the learner's source rows, and when."""
    refs = {ref for _, _, sample in result.outcomes for ref in sample}
    return list(
        ImportedRow.objects.filter(
            ledger__step=result.step.num, source_table=result.table, source_id__in=refs
        )
        .select_related("ledger")
        .order_by("source_id", "id")
    )


def render(learner: Learner, results: list[StepExplanation]) -> str:
    """The explanation as lines an operator can read and paste into a support ticket."""
    uid = learner.mitxonline_uid or "no linked mitxonline account"
    lines = [
        f"MicroMasters user {learner.mm_user_id} ({learner.username}); MITx Online username: {uid}"
    ]
    for result in results:
        lines.append(f"{result.step.label} ({result.table}):")
        if result.step.num in NOT_ABOUT_LEARNERS:
            lines.append("    (catalogue step: see the run report)")
            continue
        if not result.outcomes:
            lines.append("    no rows of this learner")
        for code, count, sample in result.outcomes:
            shown = ", ".join(str(ref) for ref in sample)
            more = f" (first {len(sample)} of {count})" if count > len(sample) else ""
            verb = "would be inserted" if code == outcomes.ELIGIBLE else outcomes.describe(code)
            lines.append(f"    {result.table} {shown}{more}: {verb}")
        for row in result.imported:
            when = f"{row.ledger.started_on:%Y-%m-%d %H:%M}" if row.ledger.started_on else "?"
            lines.append(
                f"    {row.source_table} {row.source_id}: imported by run {row.ledger.batch} "
                f"({when}), step {row.ledger.step}, as {row.target_table} {row.target_id}"
            )
    return "\n".join(lines)
