"""Run the selected steps with the transaction discipline an operator can trust.

By default each step commits on its own, so a failure keeps the steps before it and stops
the run; `single_transaction` puts staging and every step in one transaction, which also
gives every step the same snapshot of the source; a dry run is a single transaction that is
always rolled back. Every step gets a ledger row that is committed before the run starts;
its start time is committed when the step really starts (through a second session when the
step runs inside the run's one transaction), and a step's `done` commits in the same
transaction as its rows, so a run killed at any moment leaves a ledger that says what
happened: `ledger.close_interrupted` later marks the step that was running interrupted and
the steps that never started not run.

Before anything is staged, the run's plan (planner.py) decides which leading steps are
unchanged and skipped, and whether the others run narrowed to the learners whose rows changed
or in full; the runner stages accordingly, executes, and has the plan record what was read.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from mitol.common.utils.datetime import now_in_utc

from micromasters_import.engine import (
    invariants,
    ledger,
    lock,
    outcomes,
    staging,
    timing,
)
from micromasters_import.engine.planner import Plan
from micromasters_import.engine.steps import Step
from micromasters_import.models import ImportBatch, ImportRun
from micromasters_import.mount.tables import explain_mount_error, mount_of


class StepFailed(RuntimeError):
    """A step raised: its transaction was rolled back and the run stopped."""

    def __init__(self, step: Step, error: Exception):
        self.step = step
        self.error = error
        super().__init__(f"step {step.label} failed: {one_line(error)}")


class StagingFailed(RuntimeError):
    """Copying the source failed (e.g. the mount went away): nothing was imported."""


def one_line(error: Exception) -> str:
    """The first line of a database error, which is the part an operator needs."""
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__


@dataclass
class StepResult:
    """What one step did, as the command prints it and the ledger keeps it."""

    step: Step
    ledger: ImportRun
    report: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


@dataclass
class Runner:
    """One invocation of the import: which steps, how, and who asked."""

    steps: list[Step]
    run_by: str
    schema: str = staging.SOURCE_SCHEMA
    dry_run: bool = False
    single_transaction: bool = False
    recheck: bool = False
    options: dict = field(default_factory=dict)
    on_sql: Callable[[str, str], None] | None = None
    on_step_start: Callable[[Step], None] | None = None
    on_step_end: Callable[[StepResult], None] | None = None
    on_staged: Callable[[list[str], float], None] | None = None
    on_table_staged: Callable[[str, int, float], None] | None = None
    batch: uuid.UUID = field(default_factory=uuid.uuid4)
    results: list[StepResult] = field(default_factory=list)
    checks: list[invariants.Check] = field(default_factory=list)
    # Which steps to skip or narrow, and what the steps read (planner.Plan).
    plan: Plan = field(init=False, repr=False)
    _side: object = field(default=None, repr=False)  # a second session, for start times

    def __post_init__(self):
        self.plan = Plan(self.steps, self.schema, self.recheck, self.on_table_staged)

    def run(self) -> list[StepResult]:
        """Run every step; raises StepFailed after recording the failure in the ledger.

        The batch lock is taken before any ledger row exists and held until the run ends, so
        that no one mistakes this run's pending rows for a dead run's.
        """
        with timing.phase("ledger.close_interrupted"):
            ledger.close_interrupted()
        try:
            with lock.batch_lock(connection, self.batch):
                return self._run()
        finally:
            if self._side is not None:
                self._side.close()
                self._side = None

    def _run(self) -> list[StepResult]:
        with timing.phase("ledger.open"):
            record = ImportBatch.objects.create(
                batch=self.batch, run_by=self.run_by, options=self.options, dry_run=self.dry_run
            )
            rows = self._open_ledger()
        staged: list[str] = []
        try:
            if self.dry_run or self.single_transaction:
                self._run_as_one(rows, staged)
            else:
                self._run_one_by_one(rows, staged)
        except StagingFailed as error:
            for row in rows.values():
                self._close(row, ImportRun.FAILED, error=str(error))
            raise
        finally:
            with timing.phase("staging.drop"), connection.cursor() as cursor:
                staging.drop(cursor, staged)
            with timing.phase("fingerprints.record"):
                self.plan.record(self.batch, record)
            with timing.phase("ledger.finish"):
                record.finished_on = now_in_utc()
                record.invariants = [check.as_dict() for check in self.checks]
                record.save()
        return self.results

    def _check(self) -> None:
        """The post-run invariants, while the staged source still exists.

        In a narrowed run the staged source holds the re-imported learners' rows only (and the
        whole identity map): the checks run over that and the whole target, and say so.
        """
        if self.plan.carried_from is not None:
            self.checks = self._carried_checks(self.plan.carried_from)
            return
        with timing.phase("checks"), connection.cursor() as cursor:
            self.checks = invariants.run_checks(cursor)
        if self.plan.narrowed is not None:
            for check in self.checks:
                check.detail = (
                    f"{check.detail} (narrowed run: the source rows checked are those of the "
                    f"{self.plan.narrowed_to['learners']} learner(s) re-imported)"
                )

    @staticmethod
    def _carried_checks(earlier: ImportBatch) -> list[invariants.Check]:
        return [
            invariants.Check(
                name=check["name"],
                status=check["status"],
                detail=f"{check['detail']} (unchanged since run {earlier.batch})",
                sample=check.get("sample", []),
            )
            for check in earlier.invariants
        ]

    # -- ledger ---------------------------------------------------------------------------

    def _open_ledger(self) -> dict[str, ImportRun]:
        """Committed `pending` rows, one per selected step, before anything runs."""
        rows = {}
        for step in self.steps:
            rows[step.num] = ImportRun.objects.create(
                batch=self.batch,
                step=step.num,
                name=step.name,
                checksum=step.checksum,
                status=ImportRun.PENDING,
                run_by=self.run_by,
                options=self.options,
            )
        return rows

    def _mark_started(self, row: ImportRun) -> None:
        """Commit the step's start time now, so a run killed during the step still shows it.

        Outside a transaction a save commits at once. Inside one (the run's single
        transaction, or a caller's), the row is updated through a second session of its
        own, so the start time is committed whatever becomes of that transaction.
        """
        row.started_on = now_in_utc()
        if not connection.in_atomic_block:
            row.save(update_fields=["started_on", "updated_on"])
            return
        if self._side is None:
            self._side = connections.create_connection(DEFAULT_DB_ALIAS)
        with self._side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ImportRun._meta.db_table} SET started_on = %s, updated_on = %s "
                "WHERE id = %s AND status = %s",
                [row.started_on, row.started_on, row.pk, ImportRun.PENDING],
            )

    @staticmethod
    def _close(row: ImportRun, status: str, result: StepResult | None = None, error: str = ""):
        row.status = status
        row.finished_on = now_in_utc()
        if result is not None:
            row.rows_inserted = result.report.get("inserted", 0)
            row.seconds = round(result.seconds, 3)
            row.report = result.report
        row.error = error
        row.save()

    # -- execution ------------------------------------------------------------------------

    def _skip(self, step: Step, row: ImportRun) -> StepResult:
        """An unchanged step: nothing to insert; its last report, with inserts now present."""
        last = self.plan.unchanged[step.num]
        report = dict(last.report or {})
        if step.reports_outcomes:
            report["already_present"] = report.get("already_present", 0) + report.get("inserted", 0)
        report["inserted"] = 0
        report["unchanged_since"] = str(last.batch)
        return StepResult(step=step, ledger=row, report=report)

    def _stage(self, staged: list[str]) -> None:
        # Read before anything touches the remote: once a read through the mount fails, the
        # transaction is aborted and the catalog can no longer say where the mount points.
        with connection.cursor() as cursor:
            mount = mount_of(cursor, self.schema)
        try:
            self.plan.decide(staged)
        except Exception as error:
            raise StagingFailed(
                f"reading the MicroMasters source failed: {explain_mount_error(error, mount)}"
            ) from error
        names: set[str] = set()
        selected: set[str] = set()
        for step in self.steps:
            selected |= step.staged_tables
            if step.num not in self.plan.unchanged:
                names |= step.staged_tables
        if self.plan.carried_from is None:
            names |= invariants.STAGED_TABLES & selected
        if not names:
            return
        started = time.monotonic()
        try:
            with connection.cursor() as cursor:
                if self.plan.narrowed is not None:
                    self.plan.stage_narrowed(cursor, names, staged)
                else:
                    staged.extend(
                        staging.stage(
                            cursor,
                            names,
                            self.schema,
                            on_table=self.on_table_staged,
                            keep=frozenset(staged),
                        )
                    )
        except Exception as error:
            staged.clear()
            raise StagingFailed(
                f"copying the MicroMasters source failed: {explain_mount_error(error, mount)}"
            ) from error
        if self.on_staged:
            self.on_staged(staged, time.monotonic() - started)
        try:
            if not self.plan.fingerprinted:
                self.plan.fingerprint_staged(set(staged))
            with timing.phase("plan.learner_fingerprints"), connection.cursor() as cursor:
                # For the next run: per bucket, what the steps read of their learners' rows.
                self.plan.complete_tables(cursor, set(staged))
        except Exception as error:
            raise StagingFailed(
                f"reading the MicroMasters source failed: {explain_mount_error(error, mount)}"
            ) from error

    def _execute(self, step: Step, row: ImportRun) -> StepResult:
        if self.on_step_start:
            self.on_step_start(step)
        if step.num in self.plan.unchanged:
            return self._skip(step, row)
        if self.on_sql:
            self.on_sql(step.label, step.sql)
        started = time.monotonic()
        with connection.cursor() as cursor, timing.phase(f"step.{step.num}.statement"):
            # The step's SQL reads these: where the source is, and which ledger row its
            # provenance rows (ImportedRow) belong to.
            cursor.execute(
                "SELECT set_config('micromasters_import.source_schema', %s, true),"
                " set_config('micromasters_import.ledger_id', %s, true)",
                [self.schema, str(row.id)],
            )
            cursor.execute(step.sql)
            rows = cursor.fetchall() if cursor.description else []
            report = outcomes.summarize(rows) if step.reports_outcomes else {"inserted": 0}
            if self.plan.narrowed is not None and step.reports_outcomes:
                # The counts are of the re-imported learners' rows only.
                report["narrowed_to"] = dict(self.plan.narrowed_to)
        with connection.cursor() as cursor, timing.phase(f"step.{step.num}.analyze"):
            if report.get("inserted"):
                # Later steps join this table; give the planner its new size now rather than
                # whenever autovacuum gets to it.
                cursor.execute(f'ANALYZE "{step.writes}"')
        result = StepResult(step=step, ledger=row, report=report)
        result.seconds = time.monotonic() - started
        return result

    def _run_one_by_one(self, rows: dict[str, ImportRun], staged: list[str]) -> None:
        with transaction.atomic():
            self._stage(staged)
        for index, step in enumerate(self.steps):
            row = rows[step.num]
            with timing.phase(f"step.{step.num}.ledger_start"):
                self._mark_started(row)
            try:
                with timing.phase(f"step.{step.num}.commit"), transaction.atomic():
                    result = self._execute(step, row)
                    # `done` commits with the step's rows: never one without the other.
                    with timing.phase(f"step.{step.num}.ledger_done"):
                        self._close(row, ImportRun.DONE, result)
            except Exception as error:
                self._fail(step, row, error, later=self.steps[index + 1 :], ledger=rows)
            self._finish(result)
        self._check()

    def _run_as_one(self, rows: dict[str, ImportRun], staged: list[str]) -> None:
        done: list[StepResult] = []
        failure: tuple[Step, Exception] | None = None
        try:
            with transaction.atomic():
                self._stage(staged)
                for step in self.steps:
                    self._mark_started(rows[step.num])
                    try:
                        with transaction.atomic():
                            done.append(self._execute(step, rows[step.num]))
                    except Exception as error:
                        failure = (step, error)
                        raise
                    if self.on_step_end:
                        self.on_step_end(done[-1])
                self._check()
                if self.dry_run:
                    transaction.set_rollback(True)
                else:
                    # `done` commits with the rows of every step: never one without the other.
                    for result in done:
                        self._close(result.ledger, ImportRun.DONE, result)
        except Exception:
            if failure is None:
                raise
            staged.clear()  # the rollback dropped them with everything else
        if failure is None and self.dry_run:
            staged.clear()
        for result in done:
            if failure is not None:
                self._close(result.ledger, ImportRun.ROLLED_BACK, result)
            elif self.dry_run:
                self._close(result.ledger, ImportRun.DRY_RUN, result)
            self.results.append(result)
        if failure is not None:
            step, error = failure
            index = self.steps.index(step)
            self._fail(step, rows[step.num], error, later=self.steps[index + 1 :], ledger=rows)

    def _finish(self, result: StepResult) -> None:
        self.results.append(result)
        if self.on_step_end:
            self.on_step_end(result)

    def _fail(self, step, row, error, later, ledger) -> None:
        message = one_line(error)
        # A `done` set in the rolled-back transaction must not survive in memory.
        row.rows_inserted, row.seconds, row.report = None, None, {}
        self._close(row, ImportRun.FAILED, error=message)
        for other in later:
            self._close(ledger[other.num], ImportRun.NOT_RUN, error=f"not run: {step.label} failed")
        raise StepFailed(step, error) from error
