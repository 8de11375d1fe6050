"""Admin for the ID mappings an operator fills in, the operator's pages, and the ledger.

The mapping admins show the MicroMasters side of every id (read through the mount by
`source_lookup`) and refuse ids MicroMasters does not have (`forms`). Two pages help fill
and check them: suggested mappings (`suggestions`) and readiness (`readiness`), both linked
from the admin index, the mapping lists and the ledger.
"""

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from micromasters_import.engine import left_behind, outcomes, report
from micromasters_import.engine.explain import CANDIDATE_TABLE
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportBatch,
    ImportedRow,
    ImportRun,
    ProgramId,
    ProgramTierId,
)
from micromasters_import.operator import forms, readiness, report_page, source_lookup, suggestions

LEFT_BEHIND_PERMISSION = "micromasters_import.view_learners_left_behind"
LEFT_BEHIND_PAGE = 200

# The admin index lists the operator's pages above the models.
admin.site.index_template = "admin/micromasters_import/index.html"


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


# --- the mappings, with their MicroMasters side ---------------------------------------------


def rendered(response):
    """Render a template response now, inside the page's `source_lookup.one_visit()`.

    Read-only cells look the source up while the template renders, which Django would do
    after the view returns, outside the visit: a hanging source would be waited for again.
    """
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    return response


class SourceChangeList(ChangeList):
    """Looks up the MicroMasters side of a whole page of mappings in one query."""

    def get_results(self, request):
        super().get_results(request)
        self.model_admin.attach_source(self.result_list)


def source_column(description: str, describe):
    """A read-only column of a mapping admin: the mapping's MicroMasters row, `describe(row)`,
    or why it cannot be shown (see `MappingAdmin.source_cell`)."""

    @admin.display(description=description)
    def column(self, obj):
        return self.source_cell(obj, describe)

    return column


class MappingAdmin(admin.ModelAdmin):
    """Shows what each MicroMasters id is, and says so when the source is not mounted."""

    change_list_template = "admin/micromasters_import/mapping_change_list.html"
    change_form_template = "admin/micromasters_import/mapping_change_form.html"

    def source_id(self, obj) -> int | None:
        """The MicroMasters id this mapping row stands for."""
        return obj.micromasters_id

    # MicroMasters rows by id (source_lookup.courses, .programs, .tier_programs); None when the
    # source cannot be read.
    source_rows = None

    def get_changelist(self, request, **kwargs):
        return SourceChangeList

    def attach_source(self, objs) -> None:
        """Set `_mm_source` on each row: (why the source is unavailable or None, its row)."""
        objs = list(objs)
        ids = [mm_id for mm_id in map(self.source_id, objs) if mm_id is not None]
        rows = self.source_rows(ids)
        unavailable = None
        if rows is None:
            problem = source_lookup.problem() or ""
            unavailable = "source not mounted" if "not mounted" in problem else "source unreadable"
        for obj in objs:
            mm_id = self.source_id(obj)
            obj._mm_source = (unavailable, (rows or {}).get(mm_id) if mm_id is not None else None)

    def source_cell(self, obj, describe):
        if obj is None or obj.pk is None:
            return "-"
        if not hasattr(obj, "_mm_source"):
            self.attach_source([obj])
        unavailable, row = obj._mm_source
        if self.source_id(obj) is None:
            return format_html('<span class="mm-quiet">{}</span>', self.no_source_id_text)
        if unavailable:
            return format_html('<span class="mm-quiet">({})</span>', unavailable)
        if row is None:
            return format_html(
                '<strong class="mm-missing">not in MicroMasters: id {}</strong>',
                self.source_id(obj),
            )
        return describe(row)

    no_source_id_text = "-"

    def source_context(self, extra_context):
        context = dict(extra_context or {})
        context["source_problem"] = source_lookup.problem()
        return context

    def changelist_view(self, request, extra_context=None):
        with source_lookup.one_visit():
            return rendered(super().changelist_view(request, self.source_context(extra_context)))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with source_lookup.one_visit():
            return rendered(
                super().changeform_view(
                    request, object_id, form_url, self.source_context(extra_context)
                )
            )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        warning = getattr(form, "source_warning", None)
        if warning:
            self.message_user(request, warning, messages.WARNING)


@admin.register(CourseId)
class CourseIdAdmin(MappingAdmin):
    form = forms.CourseIdForm
    list_display = ("micromasters_id", "micromasters_course", "course")
    search_fields = ("=micromasters_id", "course__readable_id", "course__title")
    autocomplete_fields = ("course",)
    fields = ("micromasters_id", "micromasters_course", "course")
    readonly_fields = ("micromasters_course",)

    source_rows = staticmethod(source_lookup.courses)

    micromasters_course = source_column(
        "MicroMasters course",
        lambda c: format_html(
            '<strong>{}</strong> {}<br><span class="mm-quiet">{} · program: {}</span>',
            c.course_number or "(no number)",
            c.title,
            c.edx_key or "no course key",
            c.program_title or "-",
        ),
    )

    def get_urls(self):
        view = self.admin_site.admin_view(self.suggestions_view)
        return [
            path("suggestions/", view, name="micromasters_import_suggestions"),
            *super().get_urls(),
        ]

    def suggestions_view(self, request):
        """Proposed CourseId and ProgramId rows; POST creates the ticked ones."""
        with source_lookup.one_visit():
            return rendered(self._suggestions_view(request))

    def _suggestions_view(self, request):
        program_admin = self.admin_site._registry.get(ProgramId)
        if not (self.has_view_permission(request) or program_admin.has_view_permission(request)):
            raise PermissionDenied
        can_add = {
            suggestions.COURSE: self.has_add_permission(request),
            suggestions.PROGRAM: program_admin.has_add_permission(request),
        }
        url = reverse("admin:micromasters_import_suggestions")
        if request.method == "POST":
            keys = request.POST.getlist("proposal")
            if not keys:
                self.message_user(
                    request, "Nothing was ticked, so no mapping was created.", messages.WARNING
                )
                return HttpResponseRedirect(url)
            allowed = [key for key in keys if can_add.get(key.split(":", 1)[0])]
            if len(allowed) < len(keys):
                raise PermissionDenied
            for outcome in suggestions.create(allowed):
                if outcome.created is not None:
                    self.message_user(request, f"Created {outcome.created}.", messages.SUCCESS)
                else:
                    self.message_user(
                        request,
                        f"Not created ({outcome.key}): {'; '.join(outcome.errors)}",
                        messages.ERROR,
                    )
            return HttpResponseRedirect(url)
        found = suggestions.gather()
        context = {
            **self.admin_site.each_context(request),
            "title": "Suggested mappings",
            "opts": self.model._meta,
            "suggestions": found,
            "sections": [
                (
                    "Courses",
                    "course",
                    "course ID mapping",
                    found.courses,
                    can_add[suggestions.COURSE],
                ),
                (
                    "Programs",
                    "program",
                    "program ID mapping",
                    found.programs,
                    can_add[suggestions.PROGRAM],
                ),
            ],
            "source_problem": found.problem,
        }
        return TemplateResponse(request, "admin/micromasters_import/suggestions.html", context)


@admin.register(ProgramId)
class ProgramIdAdmin(MappingAdmin):
    form = forms.ProgramIdForm
    list_display = (
        "micromasters_id",
        "micromasters_program",
        "program",
        "program_certificate_revision",
    )
    search_fields = ("=micromasters_id", "program__readable_id", "program__title")
    autocomplete_fields = ("program",)
    raw_id_fields = ("program_certificate_revision",)
    fields = ("micromasters_id", "micromasters_program", "program", "program_certificate_revision")
    readonly_fields = ("micromasters_program",)

    source_rows = staticmethod(source_lookup.programs)

    micromasters_program = source_column(
        "MicroMasters program",
        lambda p: format_html("<strong>{}</strong>{}", p.title, "" if p.live else " (not live)"),
    )


@admin.register(ProgramTierId)
class ProgramTierIdAdmin(MappingAdmin):
    form = forms.ProgramTierIdForm
    list_display = ("micromasters_tier_program_id", "micromasters_tier", "flexible_price_tier")
    search_fields = ("=micromasters_tier_program_id",)
    raw_id_fields = ("flexible_price_tier",)
    fields = ("micromasters_tier_program_id", "micromasters_tier", "flexible_price_tier")
    readonly_fields = ("micromasters_tier",)

    def source_id(self, obj):
        return obj.micromasters_tier_program_id

    source_rows = staticmethod(source_lookup.tier_programs)

    micromasters_tier = source_column(
        "MicroMasters tier",
        lambda t: format_html(
            "<strong>{}</strong>: income &ge; ${} (${} off){}<br>"
            '<span class="mm-quiet">program: {}</span>',
            t.tier_name or "(tier name not mounted)",
            f"{t.income_threshold:,}",
            f"{t.discount_amount:,}",
            "" if t.current else ", not current",
            t.program_title or t.program_id,
        ),
    )


@admin.register(CourseCertificateRevisionId)
class CourseCertificateRevisionIdAdmin(MappingAdmin):
    list_display = ("course", "micromasters_course", "certificate_page_revision")
    search_fields = ("course__readable_id", "course__title")
    autocomplete_fields = ("course",)
    raw_id_fields = ("certificate_page_revision",)
    fields = ("course", "micromasters_course", "certificate_page_revision")
    readonly_fields = ("micromasters_course",)
    no_source_id_text = "no CourseId maps this course: step 009 will not use this row"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("course__courseid")

    def source_id(self, obj):
        mapping = getattr(obj.course, "courseid", None) if obj.course_id else None
        return mapping.micromasters_id if mapping else None

    source_rows = staticmethod(source_lookup.courses)

    micromasters_course = source_column(
        "MicroMasters course (through its CourseId)",
        lambda c: format_html(
            "<strong>{}</strong> {} (id {})", c.course_number or "", c.title, c.id
        ),
    )


# --- the ledger -----------------------------------------------------------------------------

STATUS_COLOURS = {
    ImportRun.DONE: "#2e7d32",
    report.UNCHANGED: "#2e7d32",
    ImportRun.FAILED: "#c62828",
    ImportRun.ROLLED_BACK: "#c62828",
    ImportRun.PENDING: "#ef6c00",
    ImportRun.INTERRUPTED: "#c62828",
    ImportRun.DRY_RUN: "#607d8b",
    ImportRun.NOT_RUN: "#607d8b",
    ImportRun.INTERRUPTED: "#c62828",
}


def status_badge(status: str):
    """A coloured status word."""
    return format_html(
        '<strong class="mm-status" style="color: {}">{}</strong>',
        STATUS_COLOURS.get(status, "inherit"),
        status.replace("_", " "),
    )


def when(moment):
    """A date and time that never wraps, to the minute (the page shows the seconds)."""
    if moment is None:
        return "-"
    return format_html(
        '<span class="mm-nowrap" title="{}">{}</span>',
        f"{moment:%Y-%m-%d %H:%M:%S %Z}",
        f"{moment:%Y-%m-%d %H:%M}",
    )


def short_batch(batch) -> str:
    """The first block of a run's UUID: enough to tell runs apart on a page."""
    return str(batch)[:8]


class LedgerAdmin(ReadOnlyLedgerAdmin):
    """The ledger admins, linked to the readiness page and to each other."""

    change_list_template = "admin/micromasters_import/ledger_change_list.html"
    change_form_template = "admin/micromasters_import/ledger_change_form.html"
    list_per_page = 50

    def changelist_view(self, request, extra_context=None):
        # "Import runs", not Django's "Select import run to view"
        title = capfirst(self.model._meta.verbose_name_plural)
        return super().changelist_view(request, {"title": title, **(extra_context or {})})


@admin.register(ImportedRow)
class ImportedRowAdmin(ReadOnlyLedgerAdmin):
    """Provenance: every row an import step inserted, and the MicroMasters row it came from."""

    list_display = ("target_table", "target_id", "source_table", "source_id", "step_run")
    list_filter = ("target_table", "source_table", "ledger__step")
    search_fields = ("=target_id", "=source_id", "=ledger__batch")
    list_select_related = ("ledger",)

    @admin.display(description="Step run")
    def step_run(self, obj):
        url = reverse("admin:micromasters_import_importrun_change", args=[obj.ledger_id])
        return format_html(
            '<a href="{}">{} ({})</a>', url, obj.ledger.step, short_batch(obj.ledger.batch)
        )


@admin.register(ImportRun)
class ImportRunAdmin(LedgerAdmin):
    """Step runs: what each step of each import run did."""

    list_display = ("step_label", "coloured_status", "inserted", "duration", "started", "run_link")
    list_display_links = ("step_label",)
    list_filter = ("status", "step")
    search_fields = ("step", "name", "=batch", "run_by", "error")
    date_hierarchy = "created_on"
    readonly_extra = ("run_link", "what_came_over", "imported_rows")
    fieldsets = [
        (
            None,
            {
                "fields": (
                    ("step", "name"),
                    "status",
                    "run_link",
                    "run_by",
                    ("started_on", "finished_on", "seconds"),
                    "rows_inserted",
                    "error",
                )
            },
        ),
        ("What came over, and why not", {"fields": ("what_came_over",)}),
        ("Rows it inserted, traced to their source", {"fields": ("imported_rows",)}),
        ("Details", {"classes": ("collapse",), "fields": ("checksum", "options", "report")}),
    ]

    @admin.display(description="Rows it inserted")
    def imported_rows(self, obj):
        counts = (
            ImportedRow.objects.filter(ledger=obj)
            .values_list("target_table")
            .annotate(rows=Count("id"))
            .order_by("target_table")
        )
        if not counts:
            return "none recorded (it inserted nothing, or the rows were reverted)"
        url = reverse("admin:micromasters_import_importedrow_changelist")
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}?ledger__id__exact={}&amp;target_table={}">{} row(s) in {}</a>',
            ((url, obj.pk, table, f"{rows:,}", table) for table, rows in counts),
        )

    @admin.display(description="Step", ordering="step")
    def step_label(self, obj):
        # the name in words, so that a long one may wrap rather than push columns off-screen
        return format_html("<strong>{}</strong> {}", obj.step, obj.name.replace("_", " "))

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, obj):
        return status_badge(report.step_status(obj))

    @admin.display(description="Inserted", ordering="rows_inserted")
    def inserted(self, obj):
        return "-" if obj.rows_inserted is None else f"{obj.rows_inserted:,}"

    @admin.display(description="Time", ordering="seconds")
    def duration(self, obj):
        return "-" if obj.seconds is None else f"{obj.seconds:.2f}s"

    @admin.display(description="Started", ordering="started_on")
    def started(self, obj):
        return when(obj.started_on or obj.created_on)

    def get_queryset(self, request):
        # the import run of each row, found in the same query as the rows
        run = ImportBatch.objects.filter(batch=OuterRef("batch")).values("pk")[:1]
        return super().get_queryset(request).annotate(run_pk=Subquery(run))

    @admin.display(description="Import run")
    def run_link(self, obj):
        run_pk = getattr(obj, "run_pk", None)
        if run_pk is None:
            return short_batch(obj.batch)
        url = reverse("admin:micromasters_import_importbatch_change", args=[run_pk])
        return format_html('<a href="{}">{}</a>', url, short_batch(obj.batch))

    @admin.display(description="What came over, and why not")
    def what_came_over(self, obj):
        row = report_page.step_row(report.step_entry(obj))
        return render_to_string("admin/micromasters_import/step_table.html", {"steps": [row]})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if obj is not None:
            context.update(title=f"Step run {obj.step}_{obj.name}", subtitle=None)
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        readiness_view = self.admin_site.admin_view(self.readiness_view)
        source_view = self.admin_site.admin_view(self.source_row_view)
        left_view = self.admin_site.admin_view(self.left_behind_view)
        left_csv = self.admin_site.admin_view(self.left_behind_csv)
        return [
            path("readiness/", readiness_view, name="micromasters_import_readiness"),
            path("left-behind/", left_view, name="micromasters_import_left_behind"),
            path("left-behind/csv/", left_csv, name="micromasters_import_left_behind_csv"),
            path(
                "source/<str:step>/<int:ref>/",
                source_view,
                name="micromasters_import_source_row",
            ),
            *super().get_urls(),
        ]

    def source_row_view(self, request, step, ref):
        """The MicroMasters row behind a sample id of a report, read through the mount."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        table = CANDIDATE_TABLE.get(step)
        if table is None:
            raise Http404(f"step {step} reads no source rows")
        problem, row = None, None
        try:
            row = source_lookup.source_row(table, ref)
        except LookupError as error:
            problem = str(error)
        context = {
            **self.admin_site.each_context(request),
            "title": f"MicroMasters {table} {ref}",
            "opts": self.model._meta,
            "step": step,
            "table": table,
            "ref": ref,
            "row": row,
            "source_problem": problem,
        }
        return TemplateResponse(request, "admin/micromasters_import/source_row.html", context)

    @staticmethod
    def _may_see_left_behind(request) -> None:
        """The list holds personal data: only staff given the explicit permission see it."""
        if not request.user.has_perm(LEFT_BEHIND_PERMISSION):
            raise PermissionDenied

    def left_behind_view(self, request):
        """Every learner whose data waits on their account, a page at a time, with totals."""
        self._may_see_left_behind(request)
        problem, learners = None, []
        try:
            learners = left_behind.build()
        except LookupError as error:
            problem = str(error)
        page = Paginator(learners, LEFT_BEHIND_PAGE).get_page(request.GET.get("page"))
        totals = left_behind.totals(learners)
        context = {
            **self.admin_site.each_context(request),
            "title": "Learners left behind",
            "opts": self.model._meta,
            "source_problem": problem,
            "totals": totals,
            "page": page,
            "reasons": [
                (reason, outcomes.describe(reason), n) for reason, n in totals["by_reason"].items()
            ],
        }
        return TemplateResponse(request, "admin/micromasters_import/left_behind.html", context)

    def left_behind_csv(self, request):
        """The whole list as CSV, for outreach."""
        self._may_see_left_behind(request)
        try:
            learners = left_behind.build()
        except LookupError as error:
            return HttpResponse(str(error), status=503, content_type="text/plain")
        response = HttpResponse(left_behind.as_csv(learners), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="learners_left_behind.csv"'
        return response

    def readiness_view(self, request):
        """Can each step run now, and which MicroMasters learner data has no mapping."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        with source_lookup.one_visit():
            state = readiness.build()
        context = {
            **self.admin_site.each_context(request),
            "title": "Import readiness",
            "opts": self.model._meta,
            "readiness": state,
            "source_problem": state.source_problem,
            "mapping_counts": [
                (
                    model._meta.verbose_name_plural,
                    model.objects.count(),
                    reverse(f"admin:micromasters_import_{model._meta.model_name}_changelist"),
                )
                for model in (CourseId, ProgramId, ProgramTierId, CourseCertificateRevisionId)
            ],
            "latest_batch": report.latest_batch(),
        }
        return TemplateResponse(request, "admin/micromasters_import/readiness.html", context)


@admin.register(ImportBatch)
class ImportBatchAdmin(LedgerAdmin):
    """Import runs: one per invocation of the command, with the whole report."""

    change_form_template = "admin/micromasters_import/run_report.html"
    list_display = ("short_batch", "started", "kind", "step_summary", "checks", "who")
    list_display_links = ("short_batch",)
    search_fields = ("=batch", "run_by")
    date_hierarchy = "created_on"
    readonly_extra = ()
    fieldsets = [
        (None, {"fields": ("batch", "run_by", ("created_on", "finished_on"), "dry_run")}),
        ("Details", {"classes": ("collapse",), "fields": ("options", "invariants")}),
    ]

    def get_queryset(self, request):
        # The per-bucket digests (hundreds of kB a run) are for the next run, never shown here.
        return super().get_queryset(request).defer("learner_fingerprints")

    @admin.display(description="Run", ordering="batch")
    def short_batch(self, obj):
        return short_batch(obj.batch)

    @admin.display(description="Started", ordering="created_on")
    def started(self, obj):
        return when(obj.created_on)

    @admin.display(description="Run by", ordering="run_by")
    def who(self, obj):
        # "user@host", the database role in the tooltip: the list stays one line a run
        return format_html('<span title="{}">{}</span>', obj.run_by, obj.run_by.split(" (")[0])

    @admin.display(description="Kind", ordering="dry_run")
    def kind(self, obj):
        return "dry run" if obj.dry_run else "real"

    @admin.display(description="Steps")
    def step_summary(self, obj):
        counts: dict[str, int] = {}
        for row in obj.steps:
            status = report.step_status(row)
            counts[status] = counts.get(status, 0) + 1
        if not counts:
            return "-"
        return format_html_join(
            ", ", "{} {}", ((n, status_badge(status)) for status, n in sorted(counts.items()))
        )

    @admin.display(description="Checks")
    def checks(self, obj):
        counts: dict[str, int] = {}
        for check in obj.invariants:
            counts[check.get("status")] = counts.get(check.get("status"), 0) + 1
        if not counts:
            return "-"
        problems = [(counts.get(s, 0), s) for s in ("fail", "warn") if counts.get(s)]
        if not problems:
            return mark_safe('<span class="mm-badge mm-check-pass">all pass</span>')
        return format_html_join(
            " ",
            '<span class="mm-badge mm-check-{}">{} {}</span>',
            ((status, n, "failed" if status == "fail" else "warned") for n, status in problems),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if obj is not None:
            kind = "Dry run" if obj.dry_run else "Import run"
            context.update(
                title=f"{kind} {short_batch(obj.batch)}",
                subtitle=None,
                run_report=report_page.build(obj),
                step_runs_url=(
                    reverse("admin:micromasters_import_importrun_changelist") + f"?q={obj.batch}"
                ),
            )
        return super().change_view(request, object_id, form_url, context)
