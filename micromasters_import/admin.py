"""Admin for the ID mappings an operator fills in, and the read-only run ledger."""

from django.contrib import admin
from django.utils.html import format_html

from micromasters_import import report
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportBatch,
    ImportRun,
    ProgramId,
    ProgramTierId,
)


class ReadOnlyLedgerAdmin(admin.ModelAdmin):
    """The ledger is evidence: it can be read and filtered, never added to, edited or deleted."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + list(self.readonly_extra)

    readonly_extra: tuple = ()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewing needs only the view permission; without change permission the admin shows
        # the row read-only with no Save buttons, and refuses a POST.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CourseId)
class CourseIdAdmin(admin.ModelAdmin):
    list_display = ("micromasters_id", "course")
    search_fields = ("=micromasters_id", "course__readable_id", "course__title")
    autocomplete_fields = ("course",)


@admin.register(ProgramId)
class ProgramIdAdmin(admin.ModelAdmin):
    list_display = ("micromasters_id", "program", "program_certificate_revision")
    search_fields = ("=micromasters_id", "program__readable_id", "program__title")
    autocomplete_fields = ("program",)
    raw_id_fields = ("program_certificate_revision",)


@admin.register(ProgramTierId)
class ProgramTierIdAdmin(admin.ModelAdmin):
    list_display = ("micromasters_tier_program_id", "flexible_price_tier")
    search_fields = ("=micromasters_tier_program_id",)
    raw_id_fields = ("flexible_price_tier",)


@admin.register(CourseCertificateRevisionId)
class CourseCertificateRevisionIdAdmin(admin.ModelAdmin):
    list_display = ("course", "certificate_page_revision")
    search_fields = ("course__readable_id", "course__title")
    autocomplete_fields = ("course",)
    raw_id_fields = ("certificate_page_revision",)


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyLedgerAdmin):
    list_display = (
        "id",
        "step",
        "name",
        "status",
        "rows_inserted",
        "seconds",
        "started_on",
        "run_by",
        "batch",
    )
    list_filter = ("status", "step")
    search_fields = ("step", "name", "=batch", "run_by", "error")
    date_hierarchy = "created_on"
    readonly_extra = ("what_came_over",)

    @admin.display(description="What came over, and why not")
    def what_came_over(self, obj):
        entry = report.step_entry(obj)
        data = {
            "batch": obj.batch,
            "run_by": obj.run_by,
            "started": obj.created_on,
            "dry_run": obj.status == ImportRun.DRY_RUN,
            "steps": [entry],
            "invariants": [],
        }
        return format_html("<pre>{}</pre>", report.as_table(data))


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyLedgerAdmin):
    list_display = ("id", "batch", "created_on", "finished_on", "dry_run", "run_by", "checks")
    list_filter = ("dry_run",)
    search_fields = ("=batch", "run_by")
    date_hierarchy = "created_on"
    readonly_extra = ("full_report",)

    @admin.display(description="Checks")
    def checks(self, obj):
        failed = sum(1 for check in obj.invariants if check.get("status") == "fail")
        return f"{failed} failed" if failed else "all pass" if obj.invariants else "-"

    @admin.display(description="Report")
    def full_report(self, obj):
        return format_html("<pre>{}</pre>", report.as_table(report.build(obj)))
