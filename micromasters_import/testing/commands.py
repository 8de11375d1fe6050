"""The import's commands as a test runs them: like an operator, output captured."""

from io import StringIO

from django.core.management import call_command

from micromasters_import.models import ImportBatch


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


def report(*args, **options) -> str:
    """`micromasters_import_report` with these arguments; what it printed."""
    out = StringIO()
    call_command("micromasters_import_report", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()
