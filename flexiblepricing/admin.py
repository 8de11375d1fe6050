"""Admin for financial-assistance tiers and requests, for operators checking an import.

FlexiblePrice uses reversion's VersionAdmin, as MITx Online does, so staff edits keep history.
"""

from django.contrib import admin
from mitol.common.admin import TimestampedModelAdmin
from reversion.admin import VersionAdmin

from flexiblepricing.models import (
    FlexiblePrice,
    FlexiblePriceTier,
    FlexiblePricingRequestSubmission,
)


@admin.register(FlexiblePricingRequestSubmission)
class FlexiblePricingRequestSubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "submit_time")
    ordering = ("-id",)


@admin.register(FlexiblePriceTier)
class FlexiblePriceTierAdmin(TimestampedModelAdmin):
    list_display = (
        "id",
        "courseware_content_type",
        "courseware_object_id",
        "courseware_object",
        "income_threshold_usd",
        "discount",
        "current",
    )
    list_filter = ("current", "courseware_content_type")
    search_fields = ("=courseware_object_id", "discount__discount_code")
    autocomplete_fields = ("discount",)
    list_select_related = ("discount", "courseware_content_type")
    ordering = ("-id",)


@admin.register(FlexiblePrice)
class FlexiblePriceAdmin(TimestampedModelAdmin, VersionAdmin):
    list_display = (
        "id",
        "user",
        "status",
        "courseware_content_type",
        "courseware_object_id",
        "income_usd",
        "country_of_income",
        "tier",
        "created_on",
    )
    list_filter = ("status", "courseware_content_type")
    search_fields = ("user__username", "user__email", "=courseware_object_id")
    autocomplete_fields = ("user",)
    raw_id_fields = ("tier", "cms_submission")
    list_select_related = ("user", "courseware_content_type", "tier")
    ordering = ("-id",)
