"""MITx Online's financial-assistance tables, which step 004 of the import fills.

MicroMasters financial aid becomes a `FlexiblePrice` pointing at a tier and at the courseware
(a course or a program, through a generic foreign key). The unique key
`unique_user_courseware_object` is the step's ON CONFLICT arbiter, so it is reproduced
exactly, as is every column. Ids are bigint, as upstream.
"""

import reversion
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from mitol.common.models import TimestampedModel

# Financial assistance is requested for a course or a whole program upstream.
COURSEWARE_CONTENT_TYPES = Q(app_label="courses", model__in=["course", "program"])


class FlexiblePriceStatus(models.TextChoices):
    """Request states; the import maps MicroMasters' document states to pending approval."""

    APPROVED = "approved", "Approved"
    AUTO_APPROVED = "auto-approved", "Auto-Approved"
    CREATED = "created", "Created"
    PENDING_MANUAL_APPROVAL = "pending-manual-approval", "Pending Manual Approval"
    DENIED = "denied", "Denied"
    RESET = "reset", "Reset"


TERMINAL_STATUSES = [
    FlexiblePriceStatus.APPROVED,
    FlexiblePriceStatus.AUTO_APPROVED,
    FlexiblePriceStatus.DENIED,
]


class FlexiblePricingRequestSubmission(models.Model):
    """Stand-in for the wagtail form submission a request may come from (never imported).

    Upstream this is a wagtail `AbstractFormSubmission`; only its bigint id matters to
    `flexiblepricing_flexibleprice.cms_submission_id`. The two columns help an operator.
    """

    form_data = models.JSONField(default=dict, blank=True)
    submit_time = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Submission {self.pk} ({self.submit_time:%Y-%m-%d})"


class FlexiblePriceTier(TimestampedModel):
    """An income bracket of a course or program, and the discount it entitles to.

    The import maps MicroMasters tier programs onto these (micromasters_import_programtierid).
    """

    courseware_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, limit_choices_to=COURSEWARE_CONTENT_TYPES
    )
    courseware_object_id = models.PositiveIntegerField()
    courseware_object = GenericForeignKey("courseware_content_type", "courseware_object_id")
    discount = models.ForeignKey(
        "ecommerce.Discount", on_delete=models.PROTECT, related_name="flexible_price_tiers"
    )
    current = models.BooleanField(default=False)
    income_threshold_usd = models.FloatField()

    def __str__(self):
        return (
            f"Tier {self.pk}: >= {self.income_threshold_usd} USD for "
            f"{self.courseware_content_type.model} {self.courseware_object_id}"
        )


@reversion.register()
class FlexiblePrice(TimestampedModel):
    """A learner's financial-assistance request for a course or program.

    Registered with reversion as upstream, so staff edits through the admin keep history.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(
        choices=FlexiblePriceStatus.choices,
        default=FlexiblePriceStatus.CREATED,
        max_length=30,
    )
    income_usd = models.FloatField(null=True, blank=True)
    original_income = models.FloatField(null=True, blank=True)
    original_currency = models.CharField(max_length=10, null=True, blank=True)  # noqa: DJ001
    country_of_income = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    date_exchange_rate = models.DateTimeField(null=True, blank=True)
    date_documents_sent = models.DateField(null=True, blank=True)
    justification = models.TextField(null=True, blank=True)  # noqa: DJ001
    country_of_residence = models.TextField(blank=True)
    cms_submission = models.ForeignKey(
        FlexiblePricingRequestSubmission, on_delete=models.CASCADE, null=True, blank=True
    )
    courseware_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, limit_choices_to=COURSEWARE_CONTENT_TYPES
    )
    courseware_object_id = models.PositiveIntegerField()
    courseware_object = GenericForeignKey("courseware_content_type", "courseware_object_id")
    tier = models.ForeignKey(FlexiblePriceTier, on_delete=models.CASCADE, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "courseware_content_type", "courseware_object_id"],
                name="unique_user_courseware_object",
            )
        ]

    def __str__(self):
        return f"FlexiblePrice {self.pk} for user {self.user_id}: {self.status}"
