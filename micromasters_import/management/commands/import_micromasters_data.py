"""`./manage.py import_micromasters_data`: run numbered import steps against MITx Online.

Modelled on Django's `migrate`: a plan before acting, one line per step, a confirmation that
`--noinput` skips, and clear one-line errors. Exit codes: 0 done, 1 a step failed, 2 a usage
or preflight problem (nothing was written).
"""

import gc
import getpass
import socket
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from micromasters_import import app_settings
from micromasters_import.engine import lock, outcomes, preflight, progress, report, revert, timing
from micromasters_import.engine.ledger import step_states
from micromasters_import.engine.report import narrowed_text
from micromasters_import.engine.runner import Runner, StagingFailed, StepFailed, StepResult
from micromasters_import.engine.steps import SelectionError, Step, discover, select
from micromasters_import.management.usage import USAGE_ERROR, refused
from micromasters_import.models import ImportBatch

STEP_FAILED = 1


class Command(BaseCommand):
    """Plan, check, confirm, lock, run and record the import steps an operator chose."""

    help = (
        "Import the MicroMasters learner record into MITx Online by running numbered SQL "
        "steps (see --list). Each step runs in its own transaction and is recorded."
    )

    def run_from_argv(self, argv):
        """Run as its own process (`manage.py`), then leave without a last garbage collection.

        Python's shutdown collects every object the process still holds, which takes longer
        than some steps (0.1 to 0.4 s); a process about to exit gains nothing from it.
        Freezing them first makes that collection skip them. Only the command line does this:
        a caller that runs the command in its own process (`call_command`) keeps its own GC.
        """
        try:
            super().run_from_argv(argv)
        finally:
            gc.freeze()

    def add_arguments(self, parser):
        """Options read like English, as in `migrate`."""
        which = parser.add_argument_group("which steps")
        which.add_argument(
            "--num",
            action="append",
            default=[],
            metavar="NNN",
            help="Step(s) to run: 9, 009, 2,3 or a range 002-009. May be repeated.",
        )
        which.add_argument("--all", action="store_true", help="Run every step, in order.")
        which.add_argument(
            "--list",
            "--plan",
            action="store_true",
            dest="list",
            help="Show every step and its state (never run, done, failed, changed); run nothing.",
        )
        how = parser.add_argument_group("how")
        how.add_argument(
            "--dry-run",
            action="store_true",
            help="Run the steps in one transaction, report what they would insert, roll back.",
        )
        how.add_argument(
            "--single-transaction",
            action="store_true",
            help="Run every step in one transaction (one consistent snapshot of the source).",
        )
        how.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )
        how.add_argument(
            "--recheck",
            action="store_true",
            help=(
                "Run every selected step even when nothing it reads has changed since it last "
                "ran (such steps are otherwise skipped and reported as unchanged)."
            ),
        )
        how.add_argument(
            "--force",
            action="store_true",
            help="Run a step even if the steps it needs have not been done.",
        )
        undo = parser.add_argument_group("undo")
        undo.add_argument(
            "--revert",
            metavar="RUN",
            help=(
                "Delete exactly the rows run RUN (batch uuid or ledger id) inserted, last step "
                "first, keeping any that changed since or that other rows now reference; "
                "with --dry-run, only list what it would delete and keep."
            ),
        )
        how.add_argument(
            "--source-schema",
            default=app_settings.source_schema(),
            help="Schema where MicroMasters is mounted (default: %(default)s).",
        )

    def handle(self, *args, **options):
        """Plan, check, confirm, lock, run, report."""
        self.verbosity = options["verbosity"]
        all_steps = discover()
        if options["list"]:
            self._show_plan(all_steps)
            return
        if options["revert"]:
            self._revert(options)
            return
        selected = self._selection(all_steps, options)
        try:
            with (
                refused(lock.ImportInProgress),
                timing.phase("command"),
                lock.import_lock(connection),
            ):
                self._preflight(all_steps, selected, options)
                if options["interactive"] and not self._confirm(selected, options):
                    self.stdout.write("Import cancelled; nothing was run.")
                    return
                self._run(selected, options)
        finally:
            timing.write()

    # -- selection and planning -----------------------------------------------------------

    def _selection(self, all_steps: list[Step], options) -> list[Step]:
        if options["all"] and options["num"]:
            raise CommandError("Give either --all or --num, not both.", returncode=USAGE_ERROR)
        if options["all"]:
            return all_steps
        if not options["num"]:
            raise CommandError(
                "Choose the steps to run: --num NNN (e.g. --num 009 or --num 002-009) or --all; "
                "--list shows them.",
                returncode=USAGE_ERROR,
            )
        with refused(SelectionError):
            return select(all_steps, options["num"])

    def _show_plan(self, all_steps: list[Step]) -> None:
        states = step_states(all_steps)
        self.stdout.write(self.style.MIGRATE_HEADING("MicroMasters import steps:"))
        for step in all_steps:
            state = states[step.num]
            style = {
                "done": self.style.SUCCESS,
                "failed": self.style.ERROR,
                "changed": self.style.WARNING,
                "interrupted": self.style.WARNING,
                "running": self.style.WARNING,
            }.get(state.kind, lambda text: text)
            needs = f" (needs {', '.join(step.needs)})" if step.needs else ""
            self.stdout.write(f"  {step.label:<42} {style(state.text)}{needs}")
            if self.verbosity >= 2:
                self.stdout.write(f"      {step.rule}")

    # -- checks ---------------------------------------------------------------------------

    def _preflight(self, all_steps, selected, options) -> None:
        with connection.cursor() as cursor:
            problems = preflight.run_preflight(
                cursor, all_steps, selected, options["source_schema"], options["force"]
            )
        if problems:
            for problem in problems:
                self.stderr.write(f"  - {problem}")
            raise CommandError(
                f"Preflight failed, nothing was run: {problems[0]}"
                + (f" (and {len(problems) - 1} more above)" if len(problems) > 1 else ""),
                returncode=USAGE_ERROR,
            )

    def _confirm(self, selected: list[Step], options) -> bool:
        settings = connection.settings_dict
        target = f"{settings.get('NAME')} on {settings.get('HOST') or 'localhost'}"
        mode = "DRY RUN, rolled back" if options["dry_run"] else "writes to MITx Online"
        self.stdout.write(f"About to run {len(selected)} step(s) against {target} ({mode}):")
        for step in selected:
            self.stdout.write(f"  {step.label}")
        return self._ask()

    @staticmethod
    def _ask() -> bool:
        """The operator's answer: y or yes goes on; anything else, or no input, cancels."""
        try:
            answer = input("Continue? [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    # -- running --------------------------------------------------------------------------

    def _run(self, selected: list[Step], options) -> None:
        dry_run = options["dry_run"]
        runner = Runner(
            steps=selected,
            run_by=self._who(),
            schema=options["source_schema"],
            dry_run=dry_run,
            single_transaction=options["single_transaction"],
            recheck=options["recheck"],
            options={
                key: options[key]
                for key in ("num", "all", "dry_run", "single_transaction", "force", "recheck")
            },
            on_sql=self._print_sql if self.verbosity >= 2 else None,
            on_step_start=self._print_start,
            on_step_end=self._print_end,
            on_staged=self._print_staged,
            on_table_staged=self._print_table_staged,
        )
        self._ticker = None
        self._staging_announced = False
        if dry_run:
            mode = "dry run: one transaction, rolled back at the end"
        elif options["single_transaction"]:
            mode = "one transaction for all steps"
        else:
            mode = "each step in its own transaction"
        self.stdout.write(self.style.MIGRATE_HEADING(f"Running {len(selected)} step(s) ({mode}):"))
        try:
            try:
                runner.run()
            finally:
                self._stop_ticker()
        except StagingFailed as error:
            raise CommandError(f"{error}; nothing was imported.", returncode=STEP_FAILED) from error
        except StepFailed as error:
            self.stdout.write(self.style.ERROR(" FAILED"))
            kept = (
                "" if dry_run or options["single_transaction"] else " Earlier steps stay committed."
            )
            raise CommandError(
                f"{error}. Its transaction was rolled back and the run stopped.{kept}",
                returncode=STEP_FAILED,
            ) from error
        self._print_checks(runner)
        total = sum(result.report.get("inserted", 0) for result in runner.results)
        verb = "would insert" if dry_run else "inserted"
        self.stdout.write(
            self.style.SUCCESS(f"Done: {len(runner.results)} step(s), {total} row(s) {verb}.")
            + (" Rolled back (dry run)." if dry_run else "")
        )

    def _print_checks(self, runner: Runner) -> None:
        if not runner.checks:
            return
        self.stdout.write(self.style.MIGRATE_HEADING("Checks:"))
        for check in runner.checks:
            style = {
                "pass": self.style.SUCCESS,
                "warn": self.style.WARNING,
                "fail": self.style.ERROR,
            }.get(check.status, lambda text: text)
            mark = report.STATUS_MARK.get(check.status, check.status)
            self.stdout.write(f"  {style(mark)}  {check.name}: {check.detail}")
        self.stdout.write(
            f"Full report: ./manage.py micromasters_import_report --run {runner.batch}"
        )

    # -- undo ---------------------------------------------------------------------------------

    def _revert(self, options) -> None:
        if options["all"] or options["num"]:
            raise CommandError("--revert takes no steps: it undoes a whole run.", returncode=2)
        batch = report.find_batch(options["revert"])
        if batch is None:
            raise CommandError(f"No import run {options['revert']!r}.", returncode=USAGE_ERROR)
        if batch.dry_run:
            raise CommandError(
                f"Run {batch.batch} was a dry run: it inserted nothing.", returncode=USAGE_ERROR
            )
        dry_run = options["dry_run"]
        with refused(lock.ImportInProgress), lock.import_lock(connection):
            rows = revert.ledger_rows(batch)
            if not rows:
                when = f" (reverted on {batch.reverted_on:%Y-%m-%d %H:%M})"
                self.stdout.write(
                    f"Run {batch.batch} has nothing to revert"
                    f"{when if batch.reverted_on else ''}; nothing was changed."
                )
                return
            if options["interactive"] and not dry_run and not self._confirm_revert(batch):
                self.stdout.write("Revert cancelled; nothing was changed.")
                return
            with transaction.atomic():
                result = revert.revert(batch)
                if dry_run:
                    transaction.set_rollback(True)
                else:
                    revert.mark_reverted(batch)
                    ImportBatch.objects.create(
                        batch=uuid.uuid4(),
                        run_by=self._who(),
                        options={"revert": str(batch.batch), "result": result.summary()},
                        finished_on=timezone.now(),
                    )
        self._print_revert(batch, result, dry_run)

    def _confirm_revert(self, batch) -> bool:
        counts = revert.inserted_counts(batch)
        self.stdout.write(
            f"About to delete what run {batch.batch} inserted ({batch.created_on:%Y-%m-%d %H:%M}, "
            f"by {batch.run_by}) from {connection.settings_dict.get('NAME')}:"
        )
        for table, count in counts.items():
            self.stdout.write(f"  {table}: up to {count} row(s)")
        return self._ask()

    def _print_revert(self, batch, result, dry_run: bool) -> None:
        verb = "Would delete" if dry_run else "Deleted"
        heading = f"{verb} what run {batch.batch} inserted:"
        self.stdout.write(self.style.MIGRATE_HEADING(heading))
        for table, count in result.deleted.items():
            self.stdout.write(f"  {table}: {count} row(s)")
        if result.kept:
            self.stdout.write(self.style.WARNING(f"Kept {len(result.kept)} row(s):"))
            for kept in result.kept[:50]:
                self.stdout.write(f"  {kept.table} {kept.id}: {kept.reason}")
            if len(result.kept) > 50:
                self.stdout.write(f"  ... and {len(result.kept) - 50} more (in the ledger)")
        total = sum(result.deleted.values())
        tail = " Rolled back (dry run): nothing was changed." if dry_run else ""
        self.stdout.write(self.style.SUCCESS(f"Done: {total} row(s) {verb.lower()}.") + tail)

    def _who(self) -> str:
        user = connection.settings_dict.get("USER") or "?"
        return f"{getpass.getuser()}@{socket.gethostname()} (database role {user})"

    def _print_table_staged(self, name: str, rows: int, seconds: float) -> None:
        if not self._staging_announced:
            self.stdout.write("  Copying the MicroMasters source into local tables:")
            self._staging_announced = True
        self.stdout.write(f"    {name:<26} {rows:>12,} rows {seconds:8.2f}s")
        self.stdout.flush()

    def _print_staged(self, names: list[str], seconds: float) -> None:
        self.stdout.write(f"  Staged {len(names)} MicroMasters table(s) locally ({seconds:.2f}s)")

    def _print_sql(self, label: str, text: str) -> None:
        self.stdout.write(self.style.SQL_KEYWORD(f"-- {label}"))
        self.stdout.write(text)

    def _print_start(self, step: Step) -> None:
        prefix = f"  Applying {step.label}..."
        self.stdout.write(prefix, ending="")
        self.stdout.flush()
        # on a terminal, the seconds elapsed while the step runs; nothing in a log
        self._ticker = progress.ElapsedTicker(self.stdout, prefix).__enter__()

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.__exit__(None, None, None)
            self._ticker = None

    def _print_end(self, result: StepResult) -> None:
        self._stop_ticker()
        report = result.report
        if report.get("unchanged_since"):
            self.stdout.write(
                self.style.SUCCESS(" unchanged")
                + " (nothing it reads changed since its last run; nothing to do)"
            )
            return
        parts = [f"{report.get('inserted', 0)} inserted"]
        if report.get("already_present"):
            parts.append(f"{report['already_present']} already present")
        skipped = report.get("skipped", {})
        if skipped:
            parts.append(f"{sum(skipped.values())} skipped")
        self.stdout.write(
            self.style.SUCCESS(" OK") + f" ({', '.join(parts)}; {result.seconds:.2f}s)"
        )
        if report.get("narrowed_to"):
            self.stdout.write(f"      {narrowed_text(report['narrowed_to'])}")
        if self.verbosity >= 1:
            for code, count in skipped.items():
                self.stdout.write(f"      skipped {count}: {outcomes.describe(code)}")
