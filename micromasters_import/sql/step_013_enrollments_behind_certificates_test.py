"""Step 013: a verified enrollment behind every imported certificate that has none."""

import uuid
from datetime import UTC, datetime

from courses.factories import (
    CourseRunCertificateFactory,
    CourseRunEnrollmentFactory,
    CourseRunGradeFactory,
)
from courses.models import CourseRunEnrollment
from micromasters_import.models import ImportBatch
from micromasters_import.source.factories import (
    MMCachedEnrollmentFactory,
    MMCourseCertificateFactory,
    MMCourseRunFactory,
    MMExamRunFactory,
    MMFinalGradeFactory,
    MMProctoredExamGradeFactory,
)


def _when(day, hour=10):
    return datetime(2020, 2, day, hour, 0, tzinfo=UTC)


def _imported_certificate(mm_user, user, mapped, run, **mm_fields):
    """A MicroMasters certificate and the MITx Online certificate step 009 made of it."""
    cert = MMCourseCertificateFactory(user=mm_user, course=mapped.mm, **mm_fields)
    target = CourseRunCertificateFactory(user=user, course_run=run, uuid=uuid.UUID(cert.hash))
    return cert, target


def test_a_certificate_imported_by_009_gets_a_verified_enrollment_with_every_value(
    run_steps, learner, mapped_course, imported_run
):
    mapped = mapped_course()
    run = imported_run(MMCourseRunFactory(course=mapped.mm), mapped.course)
    someone = learner()
    CourseRunGradeFactory(user=someone.user, course_run=run, grade=0.8, passed=True)
    MMCourseCertificateFactory(
        user=someone.mm, course=mapped.mm, created_on=_when(1), updated_on=_when(3)
    )

    reports = run_steps("009", "013")

    enrollment = CourseRunEnrollment.all_objects.get()
    assert enrollment.user == someone.user
    assert enrollment.run == run
    assert enrollment.active is True
    assert enrollment.enrollment_mode == "verified"
    assert enrollment.change_status is None
    assert enrollment.edx_enrolled is True
    assert enrollment.edx_emails_subscription is False
    assert enrollment.edx_enrollment_retry_count == 0
    assert (enrollment.created_on, enrollment.updated_on) == (_when(1), _when(3))
    assert reports["009"]["inserted"] == 1
    assert reports["013"]["candidates"] == 1
    assert reports["013"]["inserted"] == 1
    assert reports["013"]["skipped"] == {}


def test_only_certificates_that_came_from_micromasters_are_candidates(
    run_step, learner, mapped_course, imported_run
):
    mapped = mapped_course()
    run = imported_run(MMCourseRunFactory(course=mapped.mm), mapped.course)
    enrolled, dropped = learner(), learner()
    _imported_certificate(enrolled.mm, enrolled.user, mapped, run)
    existing = CourseRunEnrollmentFactory(user=enrolled.user, run=run, inactive=True)
    _cert, target = _imported_certificate(
        dropped.mm, dropped.user, mapped, run, created_on=_when(4), updated_on=_when(6)
    )
    # MITx Online's own certificate, and a MicroMasters one that 009 did not import.
    native = learner()
    CourseRunCertificateFactory(user=native.user, course_run=run)
    not_imported = learner()
    MMCourseCertificateFactory(user=not_imported.mm, course=mapped.mm)
    MMCourseCertificateFactory(user=not_imported.mm, course=mapped.mm, hash="not-a-hash")

    report = run_step("013")

    rows = CourseRunEnrollment.all_objects.values_list("user_id", "run_id", "enrollment_mode")
    assert set(rows) == {
        (enrolled.user.id, run.id, "audit"),
        (dropped.user.id, run.id, "verified"),
    }
    kept = CourseRunEnrollment.all_objects.get(user=enrolled.user)
    assert (kept.id, kept.active, kept.change_status) == (existing.id, False, "unenrolled")
    made = CourseRunEnrollment.all_objects.get(user=dropped.user)
    assert (made.created_on, made.updated_on) == (target.created_on, target.updated_on)
    assert (report["candidates"], report["inserted"], report["already_present"]) == (2, 1, 1)
    assert report["skipped"] == {}


def test_a_second_run_inserts_nothing(run_twice, learner, mapped_course, imported_run):
    mapped = mapped_course()
    run = imported_run(MMCourseRunFactory(course=mapped.mm), mapped.course)
    people = [learner() for _ in range(3)]
    for person in people:
        _imported_certificate(person.mm, person.user, mapped, run)

    first, second = run_twice("013")

    assert first["inserted"] == 3
    assert (second["inserted"], second["already_present"]) == (0, 3)
    assert second["skipped"] == {}
    assert CourseRunEnrollment.all_objects.count() == 3


def test_the_whole_chain_enrolls_only_the_learner_whose_cached_enrollment_was_dropped(
    run_steps, learner, mapped_course
):
    mapped = mapped_course()
    MMExamRunFactory(course=mapped.mm)
    mm_run = MMCourseRunFactory(course=mapped.mm)
    still_enrolled, unenrolled = learner(), learner()
    for person in (still_enrolled, unenrolled):
        MMFinalGradeFactory(user=person.mm, course_run=mm_run, grade=0.8)
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm, score=80.0)
    MMCourseCertificateFactory(user=still_enrolled.mm, course=mapped.mm)
    dropped_cert = MMCourseCertificateFactory(
        user=unenrolled.mm, course=mapped.mm, created_on=_when(2), updated_on=_when(5)
    )
    MMCachedEnrollmentFactory(user=still_enrolled.mm, course_run=mm_run, mode="audit")

    reports = run_steps("002", "003", "008", "009", "013")

    by_user = {e.user_id: e for e in CourseRunEnrollment.all_objects.select_related("run")}
    assert set(by_user) == {still_enrolled.user.id, unenrolled.user.id}
    assert by_user[still_enrolled.user.id].enrollment_mode == "audit"  # 003's, unchanged
    behind = by_user[unenrolled.user.id]
    assert behind.run.courseware_id == mm_run.edx_course_key
    assert (behind.enrollment_mode, behind.active) == ("verified", True)
    assert (behind.created_on, behind.updated_on) == (dropped_cert.created_on, _when(5))
    assert [reports[num]["inserted"] for num in ("002", "003", "008", "009")] == [1, 1, 2, 2]
    assert reports["013"]["inserted"] == 1
    assert reports["013"]["already_present"] == 1
    checks = {check["name"]: check["status"] for check in ImportBatch.objects.get().invariants}
    assert checks["every imported certificate has an enrollment"] == "pass"
