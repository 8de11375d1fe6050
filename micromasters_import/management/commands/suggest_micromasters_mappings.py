"""`./manage.py suggest_micromasters_mappings`: propose CourseId and ProgramId rows, with evidence.

Without `--apply` it only prints the proposals. A mapping is created only when the operator
says so: `--apply` asks about each proposal (y/n/q); `--apply --noinput` creates, without
asking, the proposals printed above it, which are those at or above `--min-confidence`
(default: high), or exactly those named by `--only`. The same proposals and the same
validation as the admin's "Suggested mappings" page (`micromasters_import.operator.suggestions`).
"""

from django.core.management.base import BaseCommand, CommandError

from micromasters_import.management.usage import USAGE_ERROR, refused
from micromasters_import.operator import source_lookup, suggestions


class Command(BaseCommand):
    """Print proposed mappings; create the confirmed ones with --apply."""

    help = (
        "Propose CourseId and ProgramId mappings by matching MicroMasters course numbers, "
        "course keys and titles with MITx Online's, with the evidence and a confidence for "
        "each. Creates nothing unless --apply is given (which asks for each one, unless "
        "--noinput)."
    )

    def add_arguments(self, parser):
        """--apply, --noinput, --min-confidence, --only, --kind, --source-schema."""
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Create proposals: asks for each, or with --noinput creates those selected.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="With --apply: do not ask, create every selected proposal.",
        )
        parser.add_argument(
            "--min-confidence",
            choices=suggestions.CONFIDENCES,
            default=suggestions.HIGH,
            help="With --apply: consider only proposals at least this confident "
            "(default: %(default)s). Ignored for proposals named by --only.",
        )
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            metavar="ID[,ID]",
            help="With --apply: only these proposals, by the id printed before each one "
            "(e.g. course:12:345). May be repeated.",
        )
        parser.add_argument(
            "--kind",
            choices=(suggestions.COURSE, suggestions.PROGRAM),
            help="Only course or only program proposals.",
        )
        parser.add_argument(
            "--source-schema",
            default=None,
            help="Schema where MicroMasters is mounted (default: MICROMASTERS_SCHEMA, "
            "or micromasters).",
        )

    def handle(self, *args, **options):
        """Propose, print, and create what was confirmed."""
        schema = options["source_schema"] or source_lookup.default_schema()
        found = suggestions.gather(schema)
        if found.problem:
            raise CommandError(found.problem, returncode=USAGE_ERROR)
        proposals = [p for p in found.all if options["kind"] in (None, p.kind)]
        only = [key.strip() for value in options["only"] for key in value.split(",") if key]
        for key in only:
            with refused(ValueError):
                suggestions.parse_key(key)
            if found.find(key) is None:
                raise CommandError(
                    f"{key} is not among the current proposals (run without --apply to see them).",
                    returncode=USAGE_ERROR,
                )

        self._print(proposals)
        if not options["apply"]:
            self._explain(proposals, options["min_confidence"])
            return

        if only:
            selected = [p for p in proposals if p.key in only]
            why = "named by --only"
        else:
            selected = [
                p
                for p in proposals
                if suggestions.at_least(p.confidence, options["min_confidence"])
            ]
            why = f"at or above confidence {options['min_confidence']}"
        if not selected:
            self.stdout.write(f"No proposal {why}: nothing to create.")
            return
        if options["interactive"]:
            chosen = self._ask(selected)
        else:
            self.stdout.write(f"Creating the {len(selected)} proposal(s) {why} (--noinput):")
            chosen = selected
        self._create(chosen, schema)

    def _print(self, proposals) -> None:
        if not proposals:
            self.stdout.write("No proposals: everything that matches is mapped already.")
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"{len(proposals)} proposed mapping(s):"))
        for p in proposals:
            style = {
                suggestions.HIGH: self.style.SUCCESS,
                suggestions.MEDIUM: self.style.WARNING,
            }.get(p.confidence, lambda text: text)
            self.stdout.write(
                f"  {p.key:<16} {style(f'{p.confidence:<6}')} {p.score:.2f}  "
                f"MicroMasters {p.kind} {p.micromasters_id} {p.micromasters_label!r} -> "
                f"{p.target_label}"
            )
            for item in p.evidence:
                self.stdout.write(f"      - {item}")

    def _explain(self, proposals, threshold: str) -> None:
        eligible = [p for p in proposals if suggestions.at_least(p.confidence, threshold)]
        self.stdout.write(
            "Nothing was created. To create mappings: --apply (asks about each proposal at or "
            f"above confidence {threshold}), --apply --noinput (creates those "
            f"{len(eligible)} without asking), or --apply --only ID,ID (just those)."
        )

    def _ask(self, selected):
        chosen = []
        for p in selected:
            question = (
                f"Create {p.kind} mapping MicroMasters {p.micromasters_id} "
                f"{p.micromasters_label!r} -> {p.target_label}? [y/n/q] "
            )
            try:
                answer = input(question).strip().lower()
            except EOFError:
                answer = "q"
            if answer == "q":
                break
            if answer in ("y", "yes"):
                chosen.append(p)
        return chosen

    def _create(self, chosen, schema: str) -> None:
        if not chosen:
            self.stdout.write("Nothing was created.")
            return
        created = 0
        for outcome in suggestions.create([p.key for p in chosen], schema):
            if outcome.created is not None:
                created += 1
                self.stdout.write(self.style.SUCCESS(f"  created {outcome.created}"))
            else:
                self.stderr.write(f"  not created {outcome.key}: {'; '.join(outcome.errors)}")
        self.stdout.write(f"Created {created} of {len(chosen)} mapping(s).")
        if created < len(chosen):
            raise CommandError("Some mappings were not created (see above).", returncode=1)
