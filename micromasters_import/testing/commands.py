"""The import's commands as a test runs them: like an operator, output captured."""

from io import StringIO

from django.core.management import call_command

from micromasters_import.models import ImportBatch, ImportedRow, ImportRun
from micromasters_import.testing.target import target_counts


def import_all(**options) -> ImportBatch:
    """`import_micromasters_data --all --noinput` (plus options); the run it recorded."""
    call_command(
        "import_micromasters_data",
        all=True,
        interactive=False,
        stdout=StringIO(),
        stderr=StringIO(),
        **options,
    )
    return ImportBatch.objects.order_by("-id").first()


def ledger_and_target() -> list[int]:
    """Row counts of the ledger and of target tables: what a read-only command leaves alone."""
    ledger = [ImportRun.objects.count(), ImportBatch.objects.count(), ImportedRow.objects.count()]
    return [*ledger, *target_counts().values()]


def create_demo(**options) -> tuple[str, str]:
    """`create_micromasters_demo --replace` (plus options); what it printed (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("create_micromasters_demo", replace=True, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def report(*args, **options) -> str:
    """`micromasters_import_report` with these arguments; what it printed."""
    out = StringIO()
    call_command("micromasters_import_report", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()
