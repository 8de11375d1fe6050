"""Every source row a step skips for a reason, not only the ten the run report keeps.

The run report stores ten sample ids per reason: enough to look at, not enough to act on
("which 4,000 certificates were skipped as course not mapped?"). The full list is found the
way `explain` finds one learner's: the real step runs, after the steps it needs, inside a
transaction that is always rolled back, with the session setting
`micromasters_import.sample_limit` raised so that its final SELECT returns every id instead
of the first ten. Nothing is written, not even to the ledger, and the list is what a run of
that step would skip now (the same as the last run's, when nothing changed since).
"""

import csv
import io
import json
from dataclasses import dataclass, field

from django.db import connection, transaction

from micromasters_import.engine import lock, outcomes, staging
from micromasters_import.engine.explain import CANDIDATE_TABLE
from micromasters_import.engine.steps import Step, discover

# Large enough for any source table: array slices past the end simply stop there.
NO_LIMIT = 2_147_483_647
# Outcomes that are not skips: the rows that came over, or were there already.
NOT_SKIPS = {outcomes.INSERTED, outcomes.ELIGIBLE, outcomes.ALREADY_PRESENT}


class UnknownStep(LookupError):
    """The operator named a step that does not exist or reports no outcomes."""


@dataclass
class SkippedRows:
    """The ids one step skips, per reason, in the MicroMasters table it reads."""

    step: Step
    table: str
    reasons: dict[str, list[int]] = field(default_factory=dict)

    def rows(self):
        """(reason, source id) pairs, reason by reason, ids ascending."""
        for reason in sorted(self.reasons):
            for ref in self.reasons[reason]:
                yield reason, ref


def find_step(num: str) -> Step:
    """The step an operator typed (`9` or `009`), if it is one that skips source rows."""
    steps = {step.num: step for step in discover() if step.reports_outcomes}
    key = num.zfill(3) if num.isdigit() else num
    if key not in steps:
        raise UnknownStep(
            f"--step {num}: no such step skips source rows (steps: {', '.join(steps)})"
        )
    return steps[key]


def with_needs(step: Step) -> list[Step]:
    """The step and every step it needs, transitively, in run order."""
    by_num = {other.num: other for other in discover()}
    wanted, todo = set(), [step.num]
    while todo:
        num = todo.pop()
        if num not in wanted and num in by_num:
            wanted.add(num)
            todo.extend(by_num[num].needs)
    return [by_num[num] for num in sorted(wanted)]


def collect(step: Step, reason: str | None = None, schema: str = staging.SOURCE_SCHEMA):
    """Run the step after its needs, rolled back; every id it skips (for `reason`, if given).

    Takes the import lock, like a run, so it never races one (ImportInProgress otherwise).
    """
    chain = with_needs(step)
    names: set[str] = set()
    for other in chain:
        names |= other.staged_tables
    result = SkippedRows(step=step, table=CANDIDATE_TABLE.get(step.num, "?"))
    with lock.import_lock(connection), transaction.atomic(), connection.cursor() as cursor:
        staging.stage(cursor, names, schema)
        for other in chain:
            limit = str(NO_LIMIT) if other.num == step.num else ""
            cursor.execute(
                "SELECT set_config('micromasters_import.source_schema', %s, true),"
                " set_config('micromasters_import.ledger_id', '', true),"
                " set_config('micromasters_import.sample_limit', %s, true)",
                [schema, limit],
            )
            cursor.execute(other.sql)
            rows = cursor.fetchall() if cursor.description else []
        for code, _count, ids in rows:
            if code in NOT_SKIPS or (reason and code != reason):
                continue
            result.reasons.setdefault(code, []).extend(int(ref) for ref in ids or [])
        transaction.set_rollback(True)  # nothing the steps did is kept (an error rolls back too)
    return result


def as_csv(found: SkippedRows) -> str:
    """One line per skipped source row, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["step", "reason", "source_table", "source_id"])
    for reason, ref in found.rows():
        writer.writerow([found.step.num, reason, found.table, ref])
    return out.getvalue()


def as_json(found: SkippedRows) -> str:
    """The ids per reason, with their counts, for tools."""
    return json.dumps(
        {
            "step": found.step.num,
            "name": found.step.name,
            "source_table": found.table,
            "reasons": {
                code: {"description": outcomes.describe(code), "rows": len(ids), "ids": ids}
                for code, ids in sorted(found.reasons.items())
            },
        },
        indent=2,
    )


def as_table(found: SkippedRows) -> str:
    """Each reason with its count, then its ids, ten to a line."""
    lines = [f"{found.step.label}: skipped {found.table} rows"]
    if not found.reasons:
        lines.append("    none")
    for code, ids in sorted(found.reasons.items()):
        lines.append(f"{outcomes.describe(code)} ({code}): {len(ids)}")
        for start in range(0, len(ids), 10):
            lines.append("    " + ", ".join(str(ref) for ref in ids[start : start + 10]))
    return "\n".join(lines)


RENDERERS = {"table": as_table, "json": as_json, "csv": as_csv}
