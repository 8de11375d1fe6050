"""`./manage.py micromasters_import_report`: what a run brought over, what it did not, and why.

The report of the latest run (or `--run ID`) as a table, JSON or CSV; or, with
`--explain-user`, every source row of one learner and what each step did with it.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from micromasters_import import explain, fdw, lock, report, staging

USAGE_ERROR = 2


class Command(BaseCommand):
    """Render a stored run report, or explain one learner's record."""

    help = "Show the report of the latest import run (or --run ID), or explain one learner."

    def add_arguments(self, parser):
        """Options in the style of Django's own commands."""
        parser.add_argument(
            "--run",
            metavar="ID",
            help="An import run's UUID, or the id of one of its step runs (default: the latest).",
        )
        parser.add_argument(
            "--format",
            choices=sorted(report.RENDERERS),
            default="table",
            help="Output format (default: table).",
        )
        parser.add_argument(
            "--explain-user",
            metavar="USERNAME_OR_MM_ID",
            help="Show every source row of this learner that each step considers, and its fate.",
        )
        parser.add_argument(
            "--source-schema",
            default=staging.SOURCE_SCHEMA,
            help="Schema where MicroMasters is mounted (default: %(default)s).",
        )

    def handle(self, *args, **options):
        """Explain a learner, or render a run."""
        if options["explain_user"]:
            self._explain(options["explain_user"], options["source_schema"])
            return
        batch = report.find_batch(options["run"]) if options["run"] else report.latest_batch()
        if batch is None:
            which = f"run {options['run']!r}" if options["run"] else "any run"
            raise CommandError(f"The ledger has no record of {which}.", returncode=USAGE_ERROR)
        data = report.build(batch)
        self.stdout.write(report.RENDERERS[options["format"]](data))

    def _explain(self, who: str, schema: str) -> None:
        with connection.cursor() as cursor:
            mount = fdw.mount_of(cursor, schema)
        try:
            learner = explain.find_learner(who, schema)
        except explain.UnknownLearner as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from error
        except Exception as error:
            reason = fdw.explain_mount_error(error, mount)
            raise CommandError(
                f"Cannot read the MicroMasters source in schema {schema!r}: {reason}",
                returncode=USAGE_ERROR,
            ) from error
        try:
            results = explain.explain(learner, schema)
        except lock.ImportInProgress as error:
            # explaining runs the steps, so it waits for no one and never races an import
            raise CommandError(str(error), returncode=USAGE_ERROR) from error
        self.stdout.write(explain.render(learner, results))
