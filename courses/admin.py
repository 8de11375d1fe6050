"""Admin for the catalogue and learner-record tables, for operators checking an import.

Enrollment and certificate pages list every row (`all_objects`): the models' default
managers hide inactive enrollments and revoked certificates, which an operator must see.
"""

from django.contrib import admin
from mitol.common.admin import TimestampedModelAdmin

from courses.models import (
    Course,
    CourseRun,
    CourseRunCertificate,
    CourseRunEnrollment,
    CourseRunGrade,
    PaidCourseRun,
    Program,
    ProgramCertificate,
    ProgramEnrollment,
    VerifiableCredential,
)
from main.admin_mixins import AllObjectsAdminMixin


@admin.register(VerifiableCredential)
class VerifiableCredentialAdmin(TimestampedModelAdmin):
    list_display = ("uuid", "created_on")
    include_created_on_in_list = True


@admin.register(Program)
class ProgramAdmin(TimestampedModelAdmin):
    list_display = ("id", "readable_id", "title", "program_type", "live", "b2b_only")
    list_filter = ("live", "availability", "program_type", "b2b_only")
    search_fields = ("readable_id", "title")
    ordering = ("readable_id",)


@admin.register(Course)
class CourseAdmin(TimestampedModelAdmin):
    list_display = ("id", "readable_id", "title", "live")
    list_filter = ("live",)
    search_fields = ("readable_id", "title")


@admin.register(CourseRun)
class CourseRunAdmin(TimestampedModelAdmin):
    list_display = (
        "id",
        "courseware_id",
        "title",
        "course",
        "run_tag",
        "language",
        "start_date",
        "end_date",
        "live",
        "is_self_paced",
        "is_source_run",
    )
    list_filter = ("live", "is_self_paced", "is_source_run", "is_primary_language", "language")
    search_fields = ("courseware_id", "title", "run_tag", "course__readable_id")
    autocomplete_fields = ("course",)
    raw_id_fields = ("b2b_contract",)
    list_select_related = ("course",)
    ordering = ("-id",)


@admin.register(CourseRunEnrollment)
class CourseRunEnrollmentAdmin(AllObjectsAdminMixin, TimestampedModelAdmin):
    list_display = (
        "id",
        "user",
        "run",
        "active",
        "change_status",
        "enrollment_mode",
        "edx_enrolled",
        "created_on",
    )
    list_filter = ("active", "change_status", "enrollment_mode", "edx_enrolled")
    search_fields = ("user__username", "user__email", "run__courseware_id")
    autocomplete_fields = ("user", "run")
    list_select_related = ("user", "run")
    ordering = ("-id",)


@admin.register(ProgramEnrollment)
class ProgramEnrollmentAdmin(AllObjectsAdminMixin, TimestampedModelAdmin):
    list_display = (
        "id",
        "user",
        "program",
        "active",
        "change_status",
        "enrollment_mode",
        "created_on",
    )
    list_filter = ("active", "change_status", "enrollment_mode")
    search_fields = ("user__username", "user__email", "program__readable_id")
    autocomplete_fields = ("user", "program")
    list_select_related = ("user", "program")
    ordering = ("-id",)


@admin.register(CourseRunGrade)
class CourseRunGradeAdmin(TimestampedModelAdmin):
    list_display = (
        "id",
        "user",
        "course_run",
        "grade",
        "letter_grade",
        "passed",
        "set_by_admin",
        "created_on",
    )
    list_filter = ("passed", "set_by_admin", "letter_grade")
    search_fields = ("user__username", "user__email", "course_run__courseware_id")
    autocomplete_fields = ("user", "course_run")
    list_select_related = ("user", "course_run")
    ordering = ("-id",)


class CertificateAdmin(AllObjectsAdminMixin, TimestampedModelAdmin):
    """Certificates of a run or of a program, revoked ones too: a subclass names the field they
    certify (`certified`) and its readable id (`certified_key`), to list, search and pick by."""

    certified = ""
    certified_key = ""
    list_filter = ("is_revoked",)
    raw_id_fields = ("certificate_page_revision", "verifiable_credential")
    readonly_fields = ("uuid",)
    ordering = ("-id",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.list_display = ("id", "uuid", "user", cls.certified, "issue_date", "is_revoked")
        cls.search_fields = ("user__username", "user__email", cls.certified_key)
        cls.autocomplete_fields = ("user", cls.certified)
        cls.list_select_related = ("user", cls.certified)


@admin.register(CourseRunCertificate)
class CourseRunCertificateAdmin(CertificateAdmin):
    certified = "course_run"
    certified_key = "course_run__courseware_id"


@admin.register(ProgramCertificate)
class ProgramCertificateAdmin(CertificateAdmin):
    certified = "program"
    certified_key = "program__readable_id"


@admin.register(PaidCourseRun)
class PaidCourseRunAdmin(TimestampedModelAdmin):
    list_display = ("id", "user", "course_run", "order", "created_on")
    search_fields = (
        "user__username",
        "user__email",
        "course_run__courseware_id",
        "order__reference_number",
    )
    autocomplete_fields = ("user", "course_run", "order")
    list_select_related = ("user", "course_run", "order")
    ordering = ("-id",)
