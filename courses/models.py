"""The MITx Online catalogue and learner-record tables the import writes to.

Each model reproduces its production table column for column (as MITx Online's own
migrations leave it) because the import is raw SQL: any column whose type, nullability or
unique key differs from production would make tests pass here and fail there. Behaviour the
raw SQL bypasses (managers, `save()` rules) is kept too, so tests can show what the ORM would
and would not see after an import.

Wagtail's page revisions and the B2B app's contract pages stand in their own apps
(`wagtailcore`, `b2b`), under MITx Online's app labels; verifiable credentials get a small
stand-in model here, with the table name and primary-key column of the real one.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from mitol.common.models import TimestampedModel, TimestampedModelQuerySet
from mitol.common.utils.datetime import now_in_utc

# A manager class that keeps TimestampedModelQuerySet's `.update()` touching `updated_on`.
TimestampedManager = models.Manager.from_queryset(TimestampedModelQuerySet)

ENROLLMENT_MODE_AUDIT = "audit"
ENROLLMENT_MODE_VERIFIED = "verified"

ENROLL_CHANGE_STATUS_CHOICES = [
    ("deferred", "deferred"),
    ("transferred", "transferred"),
    ("refunded", "refunded"),
    ("unenrolled", "unenrolled"),
]

PROGRAM_AVAILABILITY_CHOICES = [("anytime", "anytime"), ("dated", "dated")]
PROGRAM_DISPLAY_MODE_CHOICES = [("course", "Course")]

# Upstream has 42 codes validated with pycountry; the choice list is not part of the
# database schema, so a common subset is enough here. 'en' is the model default.
LANGUAGE_CHOICES = [
    ("en", "English"),
    ("ar", "Arabic"),
    ("de", "German"),
    ("el", "Greek"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("hi", "Hindi"),
    ("id", "Indonesian"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("nl", "Dutch"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("pt-br", "Portuguese (Brazil)"),
    ("ru", "Russian"),
    ("sw", "Swahili"),
    ("th", "Thai"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("vi", "Vietnamese"),
    ("zh-hans", "Chinese (Simplified)"),
    ("zh-hant", "Chinese (Traditional)"),
]
VARIANT_LENGTH_CHOICES = [("", "Standard"), ("S", "Short")]
VARIANT_INDUSTRY_CHOICES = [
    ("", "General"),
    ("E", "Energy"),
    ("F", "Finance"),
    ("HC", "Healthcare"),
]

SOURCE_RUN_TAG = "SOURCE"


class ValidateOnSaveMixin(models.Model):
    """Runs `full_clean()` on every ORM save, as upstream does for programs, courses and grades.

    Raw SQL skips this, which is exactly what tests of the import need to be able to show.
    """

    class Meta:
        abstract = True

    def save(self, *args, force_insert=False, force_update=False, **kwargs):
        """Validate first, so invalid rows can only come from raw SQL, as upstream."""
        if not (force_insert or force_update):
            self.full_clean()
        super().save(*args, force_insert=force_insert, force_update=force_update, **kwargs)


# --- stand-in for a table the import points at but never writes ---------------------------


class VerifiableCredential(TimestampedModel):
    """Stand-in for `courses_verifiablecredential`, which certificates point at by UUID."""

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credential_data = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return str(self.uuid)


# --- catalogue ------------------------------------------------------------------------------


class Program(TimestampedModel, ValidateOnSaveMixin):
    """A MITx Online program; MicroMasters programs map to one through the import's table."""

    title = models.CharField(max_length=255)
    readable_id = models.CharField(
        max_length=255,
        unique=True,
        validators=[RegexValidator(r"^[\w\-+:\.]+$", "Only letters, digits and -+:._")],
    )
    live = models.BooleanField(default=False, db_index=True)
    # NULL and '' both occur upstream; the serializers look for "MicroMasters" in it.
    program_type = models.CharField(  # noqa: DJ001
        max_length=255, null=True, blank=True, default="Series"
    )
    availability = models.CharField(
        max_length=255, choices=PROGRAM_AVAILABILITY_CHOICES, default="anytime"
    )
    enrollment_start = models.DateTimeField(null=True, blank=True, db_index=True)
    enrollment_end = models.DateTimeField(null=True, blank=True, db_index=True)
    display_mode = models.CharField(  # noqa: DJ001
        max_length=32, null=True, blank=True, choices=PROGRAM_DISPLAY_MODE_CHOICES
    )
    start_date = models.DateTimeField(null=True, blank=True, db_index=True)
    end_date = models.DateTimeField(null=True, blank=True, db_index=True)
    b2b_only = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["live", "id"], name="courses_program_live_id_idx"),
            models.Index(fields=["readable_id"], name="courses_program_readable_idx"),
            models.Index(fields=["start_date", "end_date"], name="courses_program_dates_idx"),
        ]

    def __str__(self):
        return f"{self.readable_id} | {self.title}"


class Course(TimestampedModel, ValidateOnSaveMixin):
    """A MITx Online course; course runs, certificates' programs and tiers hang off it."""

    title = models.CharField(max_length=255)
    readable_id = models.CharField(max_length=255, unique=True)
    live = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["readable_id"]

    def __str__(self):
        return f"{self.readable_id} | {self.title}"


class CourseRunManager(TimestampedManager):
    """Every course run, source runs included; the default manager upstream."""


class UsableCourseRunManager(TimestampedManager):
    """Hides source runs (templates for B2B copies) as upstream's `CourseRun.objects` does."""

    def get_queryset(self):
        """Exclude both markers of a source run: the flag and the legacy 'SOURCE' run tag."""
        return super().get_queryset().exclude(Q(is_source_run=True) | Q(run_tag=SOURCE_RUN_TAG))


class CourseRun(TimestampedModel):
    """A run of a course in Open edX; step 002 of the import creates these from MicroMasters.

    The two partial unique indexes with NULLS NOT DISTINCT are ON CONFLICT arbiters for
    that step, which is why they must be reproduced exactly.
    """

    # VariantOptionsModel columns upstream
    language = models.CharField(
        max_length=8, choices=LANGUAGE_CHOICES, default="en", blank=True, db_index=True
    )
    variant_length = models.CharField(
        max_length=1, choices=VARIANT_LENGTH_CHOICES, default="", blank=True, db_index=True
    )
    variant_industry = models.CharField(
        max_length=3, choices=VARIANT_INDUSTRY_CHOICES, default="", blank=True, db_index=True
    )

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="courseruns")
    title = models.CharField(max_length=255)
    courseware_id = models.CharField(max_length=255, unique=True)
    # TextField(max_length=100) upstream: the column is `text`, the length is form-only.
    run_tag = models.TextField(max_length=100)
    has_courseware_url = models.BooleanField(default=True)
    start_date = models.DateTimeField(null=True, blank=True, db_index=True)
    end_date = models.DateTimeField(null=True, blank=True, db_index=True)
    certificate_available_date = models.DateTimeField(null=True, blank=True, db_index=True)
    enrollment_start = models.DateTimeField(null=True, blank=True, db_index=True)
    enrollment_end = models.DateTimeField(null=True, blank=True, db_index=True)
    expiration_date = models.DateTimeField(null=True, blank=True, db_index=True)
    upgrade_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    live = models.BooleanField(default=False, db_index=True)
    is_self_paced = models.BooleanField(default=False)
    b2b_contract = models.ForeignKey(
        "b2b.ContractPage",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="course_runs",
    )
    is_source_run = models.BooleanField(default=False)
    is_primary_language = models.BooleanField(default=False)

    # Declared first so that it is the default manager, as upstream.
    all_objects = CourseRunManager()
    objects = UsableCourseRunManager()

    class Meta:
        unique_together = ("course", "courseware_id", "run_tag")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "course",
                    "run_tag",
                    "language",
                    "is_source_run",
                    "b2b_contract",
                    "variant_length",
                    "variant_industry",
                ],
                condition=~Q(language=""),
                nulls_distinct=False,
                name="unique_language_per_group",
            ),
            models.UniqueConstraint(
                fields=["course", "run_tag", "is_source_run", "b2b_contract"],
                condition=Q(is_primary_language=True),
                nulls_distinct=False,
                name="unique_primary_language_per_group",
            ),
        ]

    def __str__(self):
        return f"{self.courseware_id} | {self.title}"

    def save(self, *args, **kwargs):
        """Apply `clean()` on every ORM save, as upstream does (raw SQL skips it)."""
        self.clean()
        super().save(*args, **kwargs)

    def clean(self):
        """Reject an expiration before the start or end: edX would cut off access early."""
        if self.expiration_date:
            if self.start_date and self.expiration_date < self.start_date:
                raise ValidationError(
                    {"expiration_date": "The expiration date must be after the start date"}
                )
            if self.end_date and self.expiration_date < self.end_date:
                raise ValidationError(
                    {"expiration_date": "The expiration date must be after the end date"}
                )


# --- enrollments ----------------------------------------------------------------------------


class ActiveEnrollmentManager(TimestampedManager):
    """Only active enrollments: the default upstream, so inactive rows are easy to miss."""

    def get_queryset(self):
        """Filter on `active`, which the import copies from MicroMasters' `is_active`."""
        return super().get_queryset().filter(active=True)


class EnrollmentManager(TimestampedManager):
    """Every enrollment, active or not (`all_objects`)."""


class EnrollmentModel(TimestampedModel):
    """Columns and managers shared by course-run and program enrollments, as upstream.

    Upstream's audit trail (`save_and_log`, the *audit tables) is not reproduced: the import
    writes no audit rows and no table of this project depends on them.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    # NULL means "no change"; the import SQL writes '' instead, as upstream's SQL does.
    change_status = models.CharField(  # noqa: DJ001
        choices=ENROLL_CHANGE_STATUS_CHOICES, max_length=20, null=True, blank=True
    )
    active = models.BooleanField(
        default=True, help_text="Inactive enrollments are hidden from `objects`"
    )
    enrollment_mode = models.CharField(default=ENROLLMENT_MODE_AUDIT, max_length=20)

    objects = ActiveEnrollmentManager()
    all_objects = EnrollmentManager()

    class Meta:
        abstract = True


class CourseRunEnrollment(EnrollmentModel):
    """A learner's enrollment in a run; steps 003 and 013 of the import write these."""

    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="enrollments")
    edx_enrolled = models.BooleanField(
        default=False, help_text="The enrollment was also made in Open edX"
    )
    edx_emails_subscription = models.BooleanField(default=True)
    edx_enrollment_retry_count = models.PositiveIntegerField(default=0)

    class Meta:
        unique_together = ("user", "run")

    def __str__(self):
        return f"CourseRunEnrollment for {self.user} and {self.run}"


class ProgramEnrollment(EnrollmentModel):
    """A learner's enrollment in a program; step 011 of the import writes these."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="enrollments")

    class Meta:
        unique_together = ("user", "program")

    def __str__(self):
        return f"ProgramEnrollment for {self.user} and {self.program}"


# --- grades and certificates ----------------------------------------------------------------


class CourseRunGrade(TimestampedModel, ValidateOnSaveMixin):
    """A learner's final grade in a run; step 008 writes the MicroMasters combined grade."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="grades")
    # A fraction; up to 2.0 since upstream allowed extra credit. Validated on ORM save only.
    grade = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    letter_grade = models.CharField(max_length=10, blank=True, null=True)  # noqa: DJ001
    passed = models.BooleanField(default=False)
    set_by_admin = models.BooleanField(default=False)

    class Meta:
        unique_together = ("user", "course_run")

    def __str__(self):
        return f"Grade {self.grade} of user {self.user_id} in run {self.course_run_id}"


class ActiveCertificatesManager(TimestampedManager):
    """Certificates a learner can show: not revoked and already issued (the default)."""

    def get_queryset(self):
        """Hide revoked and future-dated certificates, as upstream's default manager does."""
        return super().get_queryset().filter(is_revoked=False, issue_date__lte=now_in_utc())


class CertificatesManager(TimestampedManager):
    """Every certificate, revoked or not yet issued included (`all_objects`)."""


class BaseCertificate(TimestampedModel):
    """Columns, managers and issue-date rule shared by course-run and program certificates."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    uuid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    is_revoked = models.BooleanField(
        default=False, help_text="Revoked certificates are hidden from `objects`"
    )
    issue_date = models.DateTimeField(default=timezone.now, db_index=True)
    verifiable_credential = models.OneToOneField(
        VerifiableCredential,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="%(class)s",
    )

    objects = ActiveCertificatesManager()
    all_objects = CertificatesManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        """Backfill an empty issue date from `created_on`, as upstream's migration 0074 did."""
        if not self.issue_date:
            self.issue_date = self.created_on or now_in_utc()
        super().save(*args, **kwargs)


class CourseRunCertificate(BaseCertificate):
    """A course-run certificate; step 009 creates one per DEDP course from MicroMasters."""

    course_run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="certificates")
    certificate_page_revision = models.ForeignKey(
        "wagtailcore.Revision", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        unique_together = ("user", "course_run")

    def __str__(self):
        return f"Certificate {self.uuid}: user {self.user_id}, run {self.course_run_id}"


class ProgramCertificate(BaseCertificate):
    """A program certificate; step 012 imports MicroMasters program certificates."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="certificates")
    certificate_page_revision = models.ForeignKey(
        "wagtailcore.Revision", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        unique_together = ("user", "program")

    def __str__(self):
        return f"Certificate {self.uuid}: user {self.user_id}, program {self.program_id}"


class PaidCourseRun(TimestampedModel):
    """Records that a learner paid for a run through an order; step 010 backfills it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("ecommerce.Order", on_delete=models.CASCADE, related_name="+")

    class Meta:
        unique_together = ("user", "course_run", "order")

    def __str__(self):
        return f"Paid run {self.course_run_id}: user {self.user_id}, order {self.order_id}"
