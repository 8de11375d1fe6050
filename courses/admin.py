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


class LearnerRowAdmin(TimestampedModelAdmin):
    """A learner's row about a run or a program (an enrollment, a grade, a certificate, a paid
    run), newest first. A subclass names what the row is about, `about`: (field, the lookup of
    its readable id) pairs; the learner and those are searched, picked and joined alike."""

    about: tuple[tuple[str, str], ...] = ()
    ordering = ("-id",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fields = tuple(field for field, _ in cls.about)
        cls.search_fields = ("user__username", "user__email", *(key for _, key in cls.about))
        cls.autocomplete_fields = ("user", *fields)
        cls.list_select_related = ("user", *fields)


@admin.register(CourseRunEnrollment)
class CourseRunEnrollmentAdmin(AllObjectsAdminMixin, LearnerRowAdmin):
    about = (("run", "run__courseware_id"),)
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


@admin.register(ProgramEnrollment)
class ProgramEnrollmentAdmin(AllObjectsAdminMixin, LearnerRowAdmin):
    about = (("program", "program__readable_id"),)
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


@admin.register(CourseRunGrade)
class CourseRunGradeAdmin(LearnerRowAdmin):
    about = (("course_run", "course_run__courseware_id"),)
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


class CertificateAdmin(AllObjectsAdminMixin, LearnerRowAdmin):
    """Certificates of a run or of a program, revoked ones too, listed alike."""

    list_filter = ("is_revoked",)
    raw_id_fields = ("certificate_page_revision", "verifiable_credential")
    readonly_fields = ("uuid",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        certified = cls.about[0][0] if cls.about else ""
        cls.list_display = ("id", "uuid", "user", certified, "issue_date", "is_revoked")


@admin.register(CourseRunCertificate)
class CourseRunCertificateAdmin(CertificateAdmin):
    about = (("course_run", "course_run__courseware_id"),)


@admin.register(ProgramCertificate)
class ProgramCertificateAdmin(CertificateAdmin):
    about = (("program", "program__readable_id"),)


@admin.register(PaidCourseRun)
class PaidCourseRunAdmin(LearnerRowAdmin):
    about = (("course_run", "course_run__courseware_id"), ("order", "order__reference_number"))
    list_display = ("id", "user", "course_run", "order", "created_on")
