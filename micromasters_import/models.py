"""The ID mappings an operator fills before importing, and the ledger of every import run.

Courses, programs and tiers are never created by the import: the SQL reaches MITx Online
objects only through these mappings, so their table and column names are MITx Online's own.
The ledger (`ImportRun`) is what lets an operator see, later, which step ran when, on which
version of its SQL, with what result, and who ran it.
"""

from django.db import models
from mitol.common.models import TimestampedModel


class CourseId(models.Model):
    """A MicroMasters course (`courses_course.id`) and the MITx Online course it became."""

    micromasters_id = models.IntegerField(unique=True, help_text="MicroMasters courses_course.id")
    course = models.OneToOneField("courses.Course", on_delete=models.CASCADE)

    class Meta:
        verbose_name = "course ID mapping"

    def __str__(self):
        return f"MicroMasters course {self.micromasters_id} -> {self.course.readable_id}"


class ProgramId(models.Model):
    """A MicroMasters program and the MITx Online program (and certificate page) it became."""

    micromasters_id = models.IntegerField(unique=True, help_text="MicroMasters courses_program.id")
    program = models.OneToOneField("courses.Program", on_delete=models.CASCADE)
    program_certificate_revision = models.ForeignKey(
        "wagtailcore.Revision",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="Certificate page revision given to imported program certificates",
    )

    class Meta:
        verbose_name = "program ID mapping"

    def __str__(self):
        return f"MicroMasters program {self.micromasters_id} -> {self.program.readable_id}"


class ProgramTierId(models.Model):
    """A MicroMasters tier program (price tier of one program) and its FlexiblePriceTier."""

    micromasters_tier_program_id = models.IntegerField(
        unique=True, help_text="MicroMasters financialaid_tierprogram.id"
    )
    flexible_price_tier = models.OneToOneField(
        "flexiblepricing.FlexiblePriceTier", on_delete=models.CASCADE
    )

    class Meta:
        verbose_name = "program tier ID mapping"

    def __str__(self):
        return (
            f"MicroMasters tier program {self.micromasters_tier_program_id} -> "
            f"flexible price tier {self.flexible_price_tier_id}"
        )


class CourseCertificateRevisionId(models.Model):
    """The certificate page revision that imported certificates of one course point at."""

    course = models.OneToOneField("courses.Course", on_delete=models.CASCADE)
    certificate_page_revision = models.ForeignKey(
        "wagtailcore.Revision", null=True, blank=True, on_delete=models.CASCADE
    )

    class Meta:
        verbose_name = "course certificate revision mapping"

    def __str__(self):
        revision = self.certificate_page_revision_id or "none"
        return f"{self.course.readable_id} -> certificate revision {revision}"


class ImportRun(TimestampedModel):
    """One execution of one numbered step: the ledger an operator audits after the fact.

    A row is written (and committed) before the run starts, so that even a killed process
    leaves evidence; `started_on` is committed when its step really starts, and the row is
    completed when the step's transaction has committed or rolled back. The rows a killed run
    left `pending` are found later (`ledger.close_interrupted`) and marked interrupted (the
    step that was running) or not run (the steps that never started).
    All steps started by one command invocation share a `batch`.
    """

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    DRY_RUN = "dry_run"
    NOT_RUN = "not_run"
    INTERRUPTED = "interrupted"
    REVERTED = "reverted"
    STATUS_CHOICES = [
        (PENDING, "pending (its run is in progress)"),
        (DONE, "done"),
        (FAILED, "failed"),
        (ROLLED_BACK, "rolled back (another step of the same transaction failed)"),
        (DRY_RUN, "dry run (rolled back on purpose)"),
        (NOT_RUN, "not run (an earlier step failed, or the run was interrupted before it)"),
        (INTERRUPTED, "interrupted (the run ended while the step ran; rolled back)"),
        (REVERTED, "reverted (its rows were taken back by --revert)"),
    ]

    batch = models.UUIDField(db_index=True, help_text="Shared by the steps of one command run")
    step = models.CharField(max_length=3, db_index=True)
    name = models.CharField(max_length=200)
    checksum = models.CharField(max_length=64, help_text="sha256 of the step's SQL file")
    started_on = models.DateTimeField(null=True, blank=True)
    finished_on = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=PENDING)
    rows_inserted = models.IntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    run_by = models.CharField(max_length=255, help_text="OS user @ host, and database role")
    options = models.JSONField(default=dict, blank=True)
    report = models.JSONField(
        default=dict, blank=True, help_text="Per-outcome counts: what came over and why not"
    )
    fingerprint = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Digest of the step's SQL and of everything it read, at the end of its run",
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        when = f"{self.started_on:%Y-%m-%d %H:%M}" if self.started_on else "not started"
        return f"{self.step} {self.name}: {self.status} ({when})"


class ImportBatch(TimestampedModel):
    """One invocation of the import command: the steps it ran share its `batch` id.

    The per-step rows say what each step did; this row holds what only the whole run can
    say: the invariant checks made after the last step, while the staged source still existed.
    """

    batch = models.UUIDField(unique=True)
    run_by = models.CharField(max_length=255)
    options = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    finished_on = models.DateTimeField(null=True, blank=True)
    learner_fingerprints = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per learner bucket, digests of the learners' source rows and identity map "
        "the run's steps read, as the run left them (a re-run imports only the learners "
        "whose rows changed)",
    )
    invariants = models.JSONField(
        default=list, blank=True, help_text="Post-run checks: name, status, detail, sample ids"
    )

    reverted_on = models.DateTimeField(
        null=True, blank=True, help_text="When `--revert` took this run's rows back"
    )

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "import batches"
        permissions = [
            (
                "view_learners_left_behind",
                "Can see and download the learners left behind (personal data)",
            )
        ]

    def __str__(self):
        return f"Import run {self.batch} by {self.run_by} ({self.created_on:%Y-%m-%d %H:%M})"

    @property
    def steps(self):
        """The ledger rows of this run, in step order."""
        return ImportRun.objects.filter(batch=self.batch).order_by("step", "id")


class ImportedRow(models.Model):
    """One MITx Online row an import step inserted, and the MicroMasters row it came from.

    Written by the step's own statement, in its transaction, so a rolled-back step leaves
    none. It answers "where did this row come from" without re-running anything, and it is
    what makes a run undoable: `--revert` deletes exactly these rows, and only while they
    still hold what was inserted (`row_hash`, the md5 of the row's text as inserted).
    """

    ledger = models.ForeignKey(
        ImportRun, on_delete=models.CASCADE, related_name="imported_rows", db_index=True
    )
    target_table = models.CharField(max_length=63)
    target_id = models.BigIntegerField()
    source_table = models.CharField(max_length=63)
    source_id = models.BigIntegerField()
    row_hash = models.CharField(max_length=32, help_text="md5 of the row as inserted")

    class Meta:
        indexes = [models.Index(fields=["target_table", "target_id"])]
        verbose_name = "imported row"

    def __str__(self):
        return (
            f"{self.target_table} {self.target_id} <- {self.source_table} {self.source_id} "
            f"(step {self.ledger.step})"
        )
