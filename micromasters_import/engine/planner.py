"""Decide, before a run stages anything, what each selected step has to do: nothing, its
learners whose rows changed, or everything; and record what the run read, for the next one.

Every step is idempotent, so a step whose inputs are as they were at the end of its last
successful run would insert nothing: it is skipped, with the counts of that run carried over.
What a step read is fingerprinted in two parts (fingerprint.py): a global part (its SQL, the
staging definitions, the MITx Online tables it joins, the source tables not keyed by a
learner) and, per learner bucket, its learners' rows and identity map. When only some buckets
changed, the run is narrowed to their learners (and to those a cross-learner rule compares
them with, narrowing.py); anything else, or `--recheck`, gives a full run.

The runner asks the plan once before staging (`decide`), has it stage a narrowed run
(`stage_narrowed`), fingerprint what a full run staged (`fingerprint_staged`,
`complete_tables`), and record the end state on the run's ledger (`record`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection

from micromasters_import.engine import fingerprint, invariants, narrowing, staging, timing
from micromasters_import.engine.steps import Step
from micromasters_import.models import ImportBatch, ImportRun


@dataclass
class Plan:
    """What one run does with each step, and what its steps read."""

    steps: list[Step]
    schema: str = staging.SOURCE_SCHEMA
    recheck: bool = False
    on_table_staged: Callable[[str, int, float], None] | None = None
    # The leading steps unchanged since their last successful run, and that run's ledger row.
    unchanged: dict[str, ImportRun] = field(default_factory=dict)
    # The earlier run whose post-run checks still hold (everything they read is unchanged).
    carried_from: ImportBatch | None = None
    source_fingerprints: dict[str, str] = field(default_factory=dict)
    # Per learner copy: its whole digest, highest id and (once known) per-bucket digests.
    tables: dict[str, dict | None] = field(default_factory=dict)
    map_fingerprints: dict[str, str] | None = None
    map_inputs: str = ""
    # The MITx Online tables' fingerprints as `decide` read them (a re-run only).
    local_fingerprints: dict[str, str] = field(default_factory=dict)
    recorded: list[dict] = field(default_factory=list, repr=False)
    # The learners a narrowed run re-imports (None: a full run), as the report says it.
    narrowed: staging.Buckets | None = None
    narrowed_to: dict = field(default_factory=dict)
    fingerprinted: bool = False

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

    def decide(self, staged: list[str]) -> None:
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
            # mostly from the staged copies (see fingerprint_staged).
            return
        records = self._records(last)
        self.recorded = list(records.values())
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
                self.local_fingerprints = local
            self.map_inputs = fingerprint.map_inputs(self.source_fingerprints, local)
            self.fingerprinted = True
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

    def complete_tables(self, cursor, staged: set[str]) -> None:
        """Every learner copy's per-bucket digests, for the next run: kept from a recorded
        state with the same whole digest, else computed (over the copy if staged whole); and
        the identity map's, when this run built it (always whole) and has not digested it."""
        if self.map_fingerprints is None and fingerprint.MAP in staged:
            self.map_fingerprints = fingerprint.map_digests(cursor)
        for name in self._learner_tables():
            now = self.tables.get(name)
            table = staging.STAGED_TABLES[name]
            whole = name in staged and (not table.parent or table.parent[1] in staged)
            if now is None and whole and self.narrowed is None:
                self.tables[name] = fingerprint.staged_state(cursor, name, self.schema)
                continue
            if now is None or self._carry(name, self.recorded):
                continue
            if whole and self.narrowed is None:
                state = fingerprint.staged_state(cursor, name, self.schema)
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

    def record(self, batch, record: ImportBatch) -> None:
        """Store, on each step done in this run, the digest of its inputs as the run left
        them, and on the run, what its steps read per learner bucket."""
        done = [
            row
            for row in ImportRun.objects.filter(batch=batch, status=ImportRun.DONE)
            if row.step in {step.num for step in self.steps}
        ]
        if not done or not self.fingerprinted:
            return
        by_num = {step.num: step for step in self.steps}
        # A table no step of this run wrote keeps the fingerprint `decide` read before any
        # step read it: if a live site changed it since, the next run sees the change and
        # runs again, where a fingerprint taken now could hide a change made after a step read
        # the table. A table this run wrote is fingerprinted as the run left it.
        written = {by_num[row.step].writes for row in done if row.rows_inserted}
        needed = set().union(*(fingerprint.local_tables(by_num[row.step]) for row in done))
        local = {t: v for t, v in self.local_fingerprints.items() if t not in written}
        with connection.cursor() as cursor:
            for table in sorted(needed - set(local)):
                local[table] = fingerprint.local_fingerprint(cursor, table)
        for row in done:
            step = by_num[row.step]
            row.fingerprint = fingerprint.step_fingerprint(step, self.source_fingerprints, local)
            row.save(update_fields=["fingerprint", "updated_on"])
        for name in self._learner_tables():
            self._carry(name, self.recorded)  # a run that staged nothing computed none
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

    def stage_narrowed(self, cursor, names: set[str], staged: list[str]) -> None:
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

    def fingerprint_staged(self, staged: set[str]) -> None:
        """Fingerprint the source a run that skips nothing has just staged, in its transaction.

        The same fingerprints `decide` reads from the source, but most are computed over the
        staged copies, which hold exactly the rows and values the source query would hash:
        a scan of the local copy instead of a second read of the source.
        """
        with timing.phase("plan.source_fingerprints"), connection.cursor() as cursor:
            self.source_fingerprints = fingerprint.source_fingerprints(
                cursor, self.schema, self.steps, staged=staged
            )
            if any(fingerprint.reads_map(step) for step in self.steps):
                users = fingerprint.local_fingerprint(cursor, "users_user")
                self.map_inputs = fingerprint.map_inputs(
                    self.source_fingerprints, {"users_user": users}
                )
        self.fingerprinted = True
