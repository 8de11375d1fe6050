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

Before any step runs, `_plan` compares what every step reads with what it read at the end of
its last successful run (see fingerprint.py): the leading steps with nothing changed are
skipped; when what changed is confined to some learners' rows, the other steps run narrowed
to those learners (see narrowing.py); otherwise they run in full.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from mitol.common.utils.datetime import now_in_utc

from micromasters_import.engine import (
    fingerprint,
    invariants,
    ledger,
    lock,
    narrowing,
    outcomes,
    staging,
    timing,
)
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
    unchanged: dict[str, ImportRun] = field(default_factory=dict)
    carried_from: ImportBatch | None = None
    source_fingerprints: dict[str, str] = field(default_factory=dict)
    # Per copy read per learner, its state: whole digest, highest id, per-bucket digests
    # (computed only when needed); the identity map's per-bucket digests, and its inputs.
    tables: dict[str, dict | None] = field(default_factory=dict)
    map_fingerprints: dict[str, str] | None = None
    _recorded: list[dict] = field(default_factory=list, repr=False)
    map_inputs: str = ""
    # The learners a narrowed run re-imports (None: a full run), as the report says it.
    narrowed: staging.Buckets | None = None
    narrowed_to: dict = field(default_factory=dict)
    _fingerprinted: bool = field(default=False, repr=False)
    _side: object = field(default=None, repr=False)  # a second session, for start times

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
                self._record_fingerprints(record)
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
        if self.carried_from is not None:
            self.checks = self._carried_checks(self.carried_from)
            return
        with timing.phase("checks"), connection.cursor() as cursor:
            self.checks = invariants.run_checks(cursor)
        if self.narrowed is not None:
            for check in self.checks:
                check.detail = (
                    f"{check.detail} (narrowed run: the source rows checked are those of the "
                    f"{self.narrowed_to['learners']} learner(s) re-imported)"
                )

    def _unchanged_batch(self) -> ImportBatch | None:
        """The run whose end state this run finds untouched, if it covers what the checks read.

        When every selected step is unchanged since one and the same earlier run, and those
        steps' inputs include every table the checks read, nothing the checks read has changed
        since that run's checks: they can be carried over instead of copying the source again.
        """
        writing = [step for step in self.steps if step.writes]
        if not writing or any(step.num not in self.unchanged for step in writing):
            return None
        batches = {self.unchanged[step.num].batch for step in writing}
        if len(batches) != 1:
            return None
        sources = set().union(*(fingerprint.source_copies(step) for step in writing))
        local = set().union(*(fingerprint.local_tables(step) for step in writing))
        if not (sources >= invariants.SOURCE_COPIES and local >= invariants.LOCAL_TABLES):
            return None
        earlier = ImportBatch.objects.filter(batch=batches.pop()).first()
        return earlier if earlier and earlier.invariants else None

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

    def _plan(self, staged: list[str]) -> None:
        """Decide, before any step runs, which steps to skip and whether to narrow the rest.

        Every selected step's inputs are compared with what it read at the end of its last
        successful run: its global fingerprint, and its learners' rows and identity map per
        bucket. The leading steps with nothing changed are skipped: once one step executes,
        it may add rows the next steps read, so every later step executes too. If every step
        that executes has the same global fingerprint and only some buckets differ, they all
        run narrowed to the learners of those buckets; otherwise in full. Computed in the
        staging transaction, so the fingerprints describe the very rows that are staged.
        """
        self.unchanged = {}
        self.narrowed = None
        writing = [step for step in self.steps if step.writes]  # a check (001) always runs
        last = {
            step.num: ImportRun.objects.filter(step=step.num, status=ImportRun.DONE)
            .exclude(fingerprint="")
            .order_by("-id")
            .first()
            for step in writing
        }
        if self.recheck or not writing or last[writing[0].num] is None:
            # Nothing can be skipped or narrowed: the source is fingerprinted once staged,
            # mostly from the staged copies (see _fingerprint_staged).
            return
        records = self._records(last)
        self._recorded = list(records.values())
        with connection.cursor() as cursor:
            with timing.phase("plan.source_fingerprints"):
                self.source_fingerprints = fingerprint.source_fingerprints(
                    cursor, self.schema, self.steps
                )
                for name in self._learner_tables():
                    upto = next(
                        (
                            record["tables"][name].get("max_id")
                            for record in records.values()
                            if name in record.get("tables", {})
                        ),
                        None,
                    )
                    self.tables[name] = fingerprint.split_fingerprint(
                        cursor, self.schema, name, upto
                    )
            with timing.phase("plan.local_fingerprints"):
                local = fingerprint.local_fingerprints(cursor, self.steps)
            self.map_inputs = fingerprint.map_inputs(self.source_fingerprints, local)
            self._fingerprinted = True
            changes = {
                step.num: self._changed_buckets(
                    cursor, step, last[step.num], records.get(step.num, {}), local, staged
                )
                for step in writing
            }
        buckets: set[str] = set()
        since = None
        for step in writing:
            change = changes[step.num]
            if since is None and change == set():
                self.unchanged[step.num] = last[step.num]
                continue
            if change is None:
                buckets = set()
                break
            buckets |= change
            since = since or str(last[step.num].batch)
        if buckets:
            self.narrowed = staging.Buckets(
                fingerprint.BUCKETS, tuple(sorted(int(key) for key in buckets))
            )
            self.narrowed_to = {"learners": 0, "buckets": len(buckets), "since": since}
        self.carried_from = self._unchanged_batch()

    def _learner_tables(self) -> list[str]:
        """The copies the selected steps read per learner."""
        writing = [step for step in self.steps if step.writes]
        return sorted(set().union(*(fingerprint.learner_copies(step) for step in writing)))

    @staticmethod
    def _records(last: dict[str, ImportRun | None]) -> dict[str, dict]:
        """Per step, what its last successful run recorded per learner bucket."""
        batches = {row.batch for row in last.values() if row is not None}
        recorded = {
            record.batch: record.learner_fingerprints or {}
            for record in ImportBatch.objects.filter(batch__in=batches)
        }
        records = {}
        for num, row in last.items():
            record = recorded.get(row.batch, {}) if row is not None else {}
            if record.get("buckets") == fingerprint.BUCKETS:
                records[num] = record
        return records

    def _changed_buckets(self, cursor, step, last, record, local, staged) -> set[str] | None:
        """The learner buckets whose inputs of this step changed since its last successful
        run; None when something else changed (or cannot be compared): a full run."""
        if last is None or last.fingerprint != fingerprint.step_fingerprint(
            step, self.source_fingerprints, local
        ):
            return None
        changed: set[str] = set()
        for name in fingerprint.learner_copies(step):
            then, now = record.get("tables", {}).get(name), self.tables.get(name)
            if then is None or now is None:
                return None
            if now["whole"] == then["whole"]:
                continue  # every learner's rows as they were
            with timing.phase("plan.learner_fingerprints"):
                found = self._changed_rows(cursor, name, then)
            if found is None:
                return None
            changed |= found
        if fingerprint.reads_map(step):
            if "map" not in record:
                return None
            if record.get("map_inputs") == self.map_inputs:
                # Built from the same links and accounts: the map is the one recorded.
                self.map_fingerprints = self.map_fingerprints or record["map"]
            else:
                current = self._map_fingerprints(cursor, staged)
                if current is None:
                    return None
                changed |= fingerprint.differing(current, record["map"])
        return None if fingerprint.NO_LEARNER in changed else changed

    def _changed_rows(self, cursor, name: str, then: dict) -> set[str] | None:
        """The buckets whose rows of one copy differ from a recorded state of it.

        When the source has only gained rows since (its rows up to the recorded highest id
        are what the whole was), the new rows' buckets are all that changed, read through
        the primary key; otherwise every bucket is digested and compared.
        """
        now = self.tables[name]
        appended = (
            not staging.STAGED_TABLES[name].parent
            and now["upto"] is not None
            and now["upto"] == then.get("max_id")
            and now["old"] == then["whole"]
        )
        if appended:
            added = fingerprint.source_buckets(cursor, self.schema, name, above=now["upto"])
            if added is None:
                return None
            if now.get("buckets") is None:
                now["buckets"] = fingerprint.plus(then["buckets"], added)
            return set(added)
        if now.get("buckets") is None:
            now["buckets"] = fingerprint.source_buckets(cursor, self.schema, name)
        if now["buckets"] is None:
            return None
        return fingerprint.differing(now["buckets"], then["buckets"])

    def _map_fingerprints(self, cursor, staged: list[str]) -> dict[str, str] | None:
        """Stage the links and build the identity map whole (once), and digest it."""
        if fingerprint.MAP not in staged:
            with timing.phase("plan.identity_map"):
                staged.extend(
                    staging.stage(
                        cursor,
                        {fingerprint.MAP},
                        self.schema,
                        on_table=self.on_table_staged,
                        keep=frozenset(staged),
                    )
                )
                self.map_fingerprints = fingerprint.map_digests(cursor)
        return self.map_fingerprints

    def _complete_tables(self, cursor, staged: set[str], records: list[dict]) -> None:
        """Every learner copy's per-bucket digests, for the next run: kept from a recorded
        state with the same whole digest, else computed (over the copy if staged whole)."""
        for name in self._learner_tables():
            now = self.tables.get(name)
            table = staging.STAGED_TABLES[name]
            whole = name in staged and (not table.parent or table.parent[1] in staged)
            if now is None and whole and self.narrowed is None:
                self.tables[name] = fingerprint.staged_state(cursor, name)
                continue
            if now is None or self._carry(name, records):
                continue
            if whole and self.narrowed is None:
                state = fingerprint.staged_state(cursor, name)
                now["buckets"] = state["buckets"] if state else None
            else:
                now["buckets"] = fingerprint.source_buckets(cursor, self.schema, name)

    def _carry(self, name: str, records: list[dict]) -> bool:
        """Keep a recorded state's per-bucket digests for a copy whose whole digest is the
        recorded one; whether the copy's digests are known."""
        now = self.tables.get(name)
        if now is None:
            return False
        if now.get("buckets") is None:
            for record in records:
                then = record.get("tables", {}).get(name, {})
                if then.get("whole") == now["whole"] and then.get("buckets") is not None:
                    now["buckets"] = then["buckets"]
                    break
        return now.get("buckets") is not None

    def _record_fingerprints(self, record: ImportBatch) -> None:
        """Store, on each step done in this run, the digest of its inputs as the run left
        them, and on the run, what its steps read per learner bucket."""
        done = [
            row
            for row in ImportRun.objects.filter(batch=self.batch, status=ImportRun.DONE)
            if row.step in {step.num for step in self.steps}
        ]
        if not done or not self._fingerprinted:
            return
        by_num = {step.num: step for step in self.steps}
        with connection.cursor() as cursor:
            local = fingerprint.local_fingerprints(cursor, [by_num[row.step] for row in done])
        for row in done:
            step = by_num[row.step]
            row.fingerprint = fingerprint.step_fingerprint(step, self.source_fingerprints, local)
            row.save(update_fields=["fingerprint", "updated_on"])
        for name in self._learner_tables():
            self._carry(name, self._recorded)  # a run that staged nothing computed none
        record.learner_fingerprints = self._learner_part()

    def _learner_part(self) -> dict:
        """What the run's steps read per learner bucket; a copy (or the map) that could not
        be digested is left out, so that the next run reading it runs in full."""
        tables = {
            name: {key: state[key] for key in ("whole", "max_id", "buckets")}
            for name, state in self.tables.items()
            if state is not None and state.get("buckets") is not None
        }
        part: dict = {"buckets": fingerprint.BUCKETS, "tables": tables}
        if self.map_fingerprints is not None:
            part["map"] = self.map_fingerprints
            part["map_inputs"] = self.map_inputs
        return part

    def _skip(self, step: Step, row: ImportRun) -> StepResult:
        """An unchanged step: nothing to insert; its last report, with inserts now present."""
        last = self.unchanged[step.num]
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
            self._plan(staged)
        except Exception as error:
            raise StagingFailed(
                f"reading the MicroMasters source failed: {explain_mount_error(error, mount)}"
            ) from error
        names: set[str] = set()
        selected: set[str] = set()
        for step in self.steps:
            selected |= step.staged_tables
            if step.num not in self.unchanged:
                names |= step.staged_tables
        if self.carried_from is None:
            names |= invariants.STAGED_TABLES & selected
        if not names:
            return
        started = time.monotonic()
        try:
            with connection.cursor() as cursor:
                if self.narrowed is not None:
                    self._stage_narrowed(cursor, names, staged)
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
                if self.map_fingerprints is None and fingerprint.MAP in staged:
                    # Whole in every run that builds it: digest it for the next run.
                    self.map_fingerprints = fingerprint.map_digests(cursor)
        except Exception as error:
            staged.clear()
            raise StagingFailed(
                f"copying the MicroMasters source failed: {explain_mount_error(error, mount)}"
            ) from error
        if self.on_staged:
            self.on_staged(staged, time.monotonic() - started)
        if not self._fingerprinted:
            self._fingerprint_staged(set(staged), mount)
        try:
            with timing.phase("plan.learner_fingerprints"), connection.cursor() as cursor:
                # For the next run: per bucket, what the steps read of their learners' rows.
                self._complete_tables(cursor, set(staged), self._recorded)
        except Exception as error:
            raise StagingFailed(
                f"reading the MicroMasters source failed: {explain_mount_error(error, mount)}"
            ) from error

    def _stage_narrowed(self, cursor, names: set[str], staged: list[str]) -> None:
        """Stage the changed buckets' learners, and those a rule compares them with.

        The links and the identity map are staged whole; every other copy keyed by learner
        holds the rows of the learners of the buckets, then of the learners whose rows share
        an order reference, a certificate hash or a transaction id with them
        (narrowing.sharers), staged again until no new learner appears.
        """
        keep = frozenset(staged)
        while True:
            with timing.phase("staging.narrowed"):
                built = staging.stage(
                    cursor,
                    names,
                    self.schema,
                    on_table=self.on_table_staged,
                    buckets=self.narrowed,
                    keep=keep,
                )
            keep |= {name for name in built if name in (fingerprint.LINKS, fingerprint.MAP)}
            staged.extend(name for name in built if name not in staged)
            with timing.phase("staging.sharers"):
                found = narrowing.sharers(cursor, self.schema, set(built))
            new = {
                user
                for user in found
                if narrowing.bucket_of(user, self.narrowed.modulus) not in self.narrowed.buckets
                and user not in self.narrowed.also
            }
            if not new:
                break
            self.narrowed = staging.Buckets(
                self.narrowed.modulus,
                self.narrowed.buckets,
                tuple(sorted(set(self.narrowed.also) | new)),
            )
        self.narrowed_to["learners"] = narrowing.learners(cursor, set(staged))

    def _fingerprint_staged(self, staged: set[str], mount) -> None:
        """Fingerprint the source a run that skips nothing has just staged, in its transaction.

        The same fingerprints `_plan` reads from the source, but most are computed over the
        staged copies, which hold exactly the rows and values the source query would hash:
        a scan of the local copy instead of a second read of the source.
        """
        try:
            with timing.phase("plan.source_fingerprints"), connection.cursor() as cursor:
                self.source_fingerprints = fingerprint.source_fingerprints(
                    cursor, self.schema, self.steps, staged=staged
                )
                if any(fingerprint.reads_map(step) for step in self.steps):
                    users = fingerprint.local_fingerprint(cursor, "users_user")
                    self.map_inputs = fingerprint.map_inputs(
                        self.source_fingerprints, {"users_user": users}
                    )
            self._fingerprinted = True
        except Exception as error:
            raise StagingFailed(
                f"reading the MicroMasters source failed: {explain_mount_error(error, mount)}"
            ) from error

    def _execute(self, step: Step, row: ImportRun) -> StepResult:
        if self.on_step_start:
            self.on_step_start(step)
        if step.num in self.unchanged:
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
            if self.narrowed is not None and step.reports_outcomes:
                # The counts are of the re-imported learners' rows only.
                report["narrowed_to"] = dict(self.narrowed_to)
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
