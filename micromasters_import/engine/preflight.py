"""Checks made before anything runs, so that a run fails before writing, not halfway.

Every check here stands for a way the original import broke in production or could have:
a missing mount, an empty mapping table (which silently imports nothing), steps run out of
order, a broken step file (which would fail after the steps before it had committed), and
above all schema drift: MITx Online adding a NOT NULL column with an ORM-only default, which
made six of its SQL files fail at once.
"""

import re

from django.db import DatabaseError, transaction

from micromasters_import.engine import staging, timing
from micromasters_import.engine.runner import one_line
from micromasters_import.engine.steps import Step
from micromasters_import.models import ImportRun
from micromasters_import.mount.tables import explain_mount_error, mount_of


def source_problems(cursor, steps: list[Step], schema: str) -> list[str]:
    """The source schema, and every table and column the selected steps read, must exist."""
    if not steps:
        return []
    cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
    if not cursor.fetchone():
        return [
            f'the MicroMasters schema "{schema}" does not exist '
            "(mount it with ./manage.py setup_micromasters_fdw)"
        ]
    needed: set[str] = set()
    for step in steps:
        needed |= step.staged_tables
    if not needed:
        return []
    cursor.execute(
        """
        SELECT c.relname, a.attname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = %s
        """,
        [schema],
    )
    present: dict[str, set[str]] = {}
    for table, column in cursor.fetchall():
        present.setdefault(table, set()).add(column)
    problems = []
    for table, columns in sorted(staging.source_tables(needed).items()):
        if table not in present:
            problems.append(f"source table {schema}.{table} is missing")
            continue
        missing = sorted(columns - present[table])
        if missing:
            problems.append(f"source table {schema}.{table} lacks column(s) {', '.join(missing)}")
    return problems


def mapping_problems(cursor, steps: list[Step]) -> list[str]:
    """A mapping table a step joins must not be empty: an empty one imports nothing, silently."""
    problems = []
    tables = sorted({table for step in steps for table in step.mapping_tables})
    for table in tables:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
        if not cursor.fetchone()[0]:
            users = ", ".join(step.num for step in steps if table in step.mapping_tables)
            problems.append(f"mapping table {table} is empty (needed by step {users})")
    return problems


def dependency_problems(steps: list[Step], selected: list[Step]) -> list[str]:
    """A step's prerequisites must be done already, or come earlier in this run."""
    done = set(
        ImportRun.objects.filter(status=ImportRun.DONE).values_list("step", flat=True).distinct()
    )
    problems = []
    scheduled: set[str] = set()
    for step in selected:
        missing = [need for need in step.needs if need not in done and need not in scheduled]
        if missing:
            problems.append(
                f"step {step.num} needs step(s) {', '.join(missing)} done first "
                "(run them too, or pass --force)"
            )
        scheduled.add(step.num)
    return problems


def drift_problems(cursor, steps: list[Step]) -> list[str]:
    """Each INSERT must supply every NOT NULL column without a default, and only real columns.

    This catches a future MITx Online migration that adds a NOT NULL column (or drops one the
    SQL writes) before any step runs, instead of as a failure halfway through the run.
    """
    problems = []
    for step in steps:
        if not step.writes:
            continue
        cursor.execute(
            """
            SELECT column_name, is_nullable = 'NO' AND column_default IS NULL
                   AND is_identity = 'NO' AND is_generated = 'NEVER'
              FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = %s
            """,
            [step.writes],
        )
        columns = dict(cursor.fetchall())
        if not columns:
            problems.append(f"step {step.num} writes {step.writes}, which does not exist")
            continue
        supplied = set(step.insert_columns)
        unknown = sorted(supplied - set(columns))
        required = sorted(name for name, needed in columns.items() if needed)
        unsupplied = [name for name in required if name not in supplied]
        if unknown:
            problems.append(
                f"step {step.num} writes column(s) {', '.join(unknown)} "
                f"that {step.writes} does not have"
            )
        if unsupplied:
            problems.append(
                f"step {step.num} does not supply NOT NULL column(s) {', '.join(unsupplied)} "
                f"of {step.writes} (schema drift: MITx Online added them)"
            )
    return problems


DO_BLOCK = re.compile(r"\A(?:\s*--[^\n]*\n)*\s*DO\b", re.IGNORECASE)


def sql_problems(cursor, steps: list[Step], schema: str) -> list[str]:
    """Every step's SQL must parse and name only tables and columns that exist.

    Each statement is planned (EXPLAIN, which executes nothing) against staged copies of the
    source narrowed to no learner, in a transaction that is rolled back, so a broken step file
    stops the run before any step has written. A `DO` block (001) cannot be planned.
    """
    planned = [step for step in steps if not DO_BLOCK.match(step.sql)]
    if not planned:
        return []
    names: set[str] = set()
    for step in planned:
        names |= step.staged_tables
    problems = []
    with transaction.atomic():
        mount = mount_of(cursor, schema)  # before the remote is read: see explain_mount_error
        try:
            staging.stage(cursor, names, schema, mm_user_ids=[], phase="preflight.stage")
        except DatabaseError as error:
            reason = explain_mount_error(error, mount)
            problems.append(f"reading the MicroMasters source failed: {reason}")
            transaction.set_rollback(True)
            return problems
        for step in planned:
            try:
                with timing.phase(f"preflight.explain.{step.num}"), transaction.atomic():
                    cursor.execute("EXPLAIN\n" + step.sql)
            except DatabaseError as error:
                problems.append(
                    f"step {step.label} has broken SQL ({step.path.name}): {one_line(error)}"
                )
        transaction.set_rollback(True)  # the empty staged copies were only for planning
    return problems


def run_preflight(
    cursor, steps: list[Step], selected: list[Step], schema: str, force: bool
) -> list[str]:
    """All problems that must stop the run before it starts (an empty list means go)."""
    with timing.phase("preflight.catalog"):
        source = source_problems(cursor, selected, schema)
        problems = source + mapping_problems(cursor, selected) + drift_problems(cursor, selected)
    if not source:
        with timing.phase("preflight.sql"):
            problems += sql_problems(cursor, selected, schema)
    if not force:
        with timing.phase("preflight.dependencies"):
            problems += dependency_problems(steps, selected)
    return problems
