"""`./manage.py micromasters_import_report`: what a run brought over, what it did not, and why.

The report of the latest run (or `--run ID`) as a table, JSON or CSV; or, with
`--explain-user`, every source row of one learner and what each step did with it; or, with
`--skipped --step NNN [--reason CODE]`, every source row a step skips, not only ten samples;
or, with `--left-behind --username STAFF`, every learner whose data waits on their account.

The left-behind list holds personal data, so it asks who wants it: `--username` must name an
active staff user holding `micromasters_import.view_learners_left_behind`, the permission the
admin page asks for. Whoever has this shell can read the database anyway; the check keeps
one rule for both ways in, and makes the operator say on whose authority they ask.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from micromasters_import import app_settings
from micromasters_import.engine import explain, left_behind, lock, outcomes, report, skipped
from micromasters_import.management.usage import USAGE_ERROR, reading_the_source, refused

PERMISSION = "micromasters_import.view_learners_left_behind"


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
            "--skipped",
            action="store_true",
            help="List every source row the step given by --step skips (for --reason, if given).",
        )
        parser.add_argument("--step", metavar="NNN", help="The step whose skipped rows to list.")
        parser.add_argument(
            "--reason",
            metavar="CODE",
            help="Only rows skipped for this reason (e.g. course_not_mapped).",
        )
        parser.add_argument(
            "--left-behind",
            action="store_true",
            help="List every learner whose data the import cannot bring over because of their "
            "account (personal data: needs --username).",
        )
        parser.add_argument(
            "--username",
            metavar="STAFF_USER",
            help="The MITx Online staff user asking for --left-behind; must hold the permission "
            f"{PERMISSION}.",
        )
        parser.add_argument(
            "--source-schema",
            default=app_settings.source_schema(),
            help="Schema where MicroMasters is mounted (default: MICROMASTERS_SCHEMA, else "
            "micromasters).",
        )

    def handle(self, *args, **options):
        """Explain a learner, list skipped rows or learners left behind, or render a run."""
        if options["left_behind"]:
            self._left_behind(options)
            return
        if options["skipped"]:
            self._skipped(options)
            return
        if options["step"] or options["reason"]:
            raise CommandError("--step and --reason go with --skipped.", returncode=USAGE_ERROR)
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
        failure = f"Cannot read the MicroMasters source in schema {schema!r}"
        with reading_the_source(schema, failure), refused(explain.UnknownLearner):
            learner = explain.find_learner(who, schema)
        # explaining runs the steps, so it waits for no one and never races an import
        with refused(lock.ImportInProgress):
            results = explain.explain(learner, schema)
        self.stdout.write(explain.render(learner, results))

    def _left_behind(self, options) -> None:
        self._authorize(options["username"])
        with refused(LookupError):
            learners = left_behind.build(options["source_schema"])
        self.stdout.write(left_behind.RENDERERS[options["format"]](learners))

    @staticmethod
    def _authorize(username: str | None) -> None:
        """Refuse unless an active staff user holding the permission is named."""
        if not username:
            raise CommandError(
                "--left-behind lists personal data: give --username of a staff user with "
                f"{PERMISSION}.",
                returncode=USAGE_ERROR,
            )
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not (user.is_active and user.is_staff and user.has_perm(PERMISSION)):
            raise CommandError(
                f"{username!r} is not an active staff user with {PERMISSION}.",
                returncode=USAGE_ERROR,
            )

    def _skipped(self, options) -> None:
        if not options["step"]:
            raise CommandError("--skipped needs --step NNN.", returncode=USAGE_ERROR)
        reason = options["reason"]
        if reason and (reason not in outcomes.DESCRIPTIONS or reason in skipped.NOT_SKIPS):
            raise CommandError(
                f"--reason {reason!r} is not a skip reason (e.g. course_not_mapped).",
                returncode=USAGE_ERROR,
            )
        with refused(skipped.UnknownStep):
            step = skipped.find_step(options["step"])
        schema = options["source_schema"]
        failure = f"Cannot list the rows step {step.num} skips"
        with reading_the_source(schema, failure), refused(lock.ImportInProgress):
            found = skipped.collect(step, reason, schema)
        self.stdout.write(skipped.RENDERERS[options["format"]](found))
