"""Step 003: cached MicroMasters enrollments of exam passers become run enrollments."""

from courses.models import CourseRunEnrollment
from micromasters_import.source.factories import (
    MMCachedEnrollmentFactory,
    MMCourseRunFactory,
    MMProctoredExamGradeFactory,
    MMSocialAuthFactory,
    MMUserFactory,
)


def _world(mapped_course, imported_run):
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(course=mapped.mm)
    run = imported_run(mm_run, mapped.course)
    return mapped, mm_run, run


def test_imports_the_enrollment_of_an_exam_passer_with_every_value(
    run_steps, learner, mapped_course, imported_run
):
    mapped, mm_run, run = _world(mapped_course, imported_run)
    someone = learner()
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm)
    MMCachedEnrollmentFactory(user=someone.mm, course_run=mm_run, mode="verified", is_active=False)

    reports = run_steps("003")

    enrollment = CourseRunEnrollment.all_objects.get()
    assert enrollment.user == someone.user
    assert enrollment.run == run
    assert enrollment.active is False
    assert enrollment.enrollment_mode == "verified"
    assert enrollment.change_status is None
    assert enrollment.edx_enrolled is True
    assert enrollment.edx_emails_subscription is False
    assert enrollment.edx_enrollment_retry_count == 0
    assert reports["003"]["inserted"] == 1
    assert reports["003"]["candidates"] == 1


def test_a_missing_or_null_mode_becomes_audit_and_a_missing_is_active_means_active(
    run_steps, learner, mapped_course, imported_run
):
    mapped, mm_run, _run = _world(mapped_course, imported_run)
    without_mode, null_mode = learner(), learner()
    for person, data in [
        (without_mode, {"user": "x", "course_details": {"course_id": mm_run.edx_course_key}}),
        (null_mode, {"mode": None, "is_active": True}),
    ]:
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm)
        MMCachedEnrollmentFactory(user=person.mm, course_run=mm_run, data=data)

    run_steps("003")

    rows = CourseRunEnrollment.all_objects.order_by("user__username")
    assert sorted((e.user_id, e.enrollment_mode, e.active) for e in rows) == sorted(
        [(without_mode.user.id, "audit", True), (null_mode.user.id, "audit", True)]
    )


def test_skips_learners_who_cannot_or_must_not_be_enrolled_and_says_why(
    run_steps, learner, mapped_course, imported_run, mm
):
    mapped, mm_run, _run = _world(mapped_course, imported_run)
    unlinked = MMUserFactory()
    edx_only = MMUserFactory()
    MMSocialAuthFactory(user=edx_only, provider="edxorg")
    unknown_uid = MMUserFactory()
    MMSocialAuthFactory(user=unknown_uid, uid="nobody-in-mitxonline")
    failed = learner()
    MMProctoredExamGradeFactory(user=failed.mm, course=mapped.mm, passed=False, score=40.0)
    other_course = learner()
    MMProctoredExamGradeFactory(user=other_course.mm)  # passed, but another course's exam
    for mm_user in [unlinked, edx_only, unknown_uid]:
        MMProctoredExamGradeFactory(user=mm_user, course=mapped.mm)
    for mm_user in [unlinked, edx_only, unknown_uid, failed.mm, other_course.mm]:
        MMCachedEnrollmentFactory(user=mm_user, course_run=mm_run)
    not_imported = learner()
    lone_run = MMCourseRunFactory(course=mapped.mm)  # never became a MITx Online run
    MMProctoredExamGradeFactory(user=not_imported.mm, course=mapped.mm)
    MMCachedEnrollmentFactory(user=not_imported.mm, course_run=lone_run)

    reports = run_steps("003")

    assert CourseRunEnrollment.all_objects.count() == 0
    assert reports["003"]["candidates"] == 6
    assert reports["003"]["skipped"] == {
        "no_linked_account": 2,
        "exam_not_passed": 2,
        "run_not_imported": 1,
        "unknown_mitxonline_user": 1,
    }
    assert reports["003"]["samples"]["no_linked_account"] == sorted(
        reports["003"]["samples"]["no_linked_account"]
    )


def test_an_existing_enrollment_is_kept_and_a_second_run_inserts_nothing(
    run_steps, learner, mapped_course, imported_run
):
    mapped, mm_run, run = _world(mapped_course, imported_run)
    people = [learner() for _ in range(3)]
    for person in people:
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm)
        MMCachedEnrollmentFactory(user=person.mm, course_run=mm_run, mode="audit")
    CourseRunEnrollment.all_objects.create(
        user=people[0].user, run=run, enrollment_mode="verified", active=True
    )

    first = run_steps("003")
    second = run_steps("003")

    assert first["003"]["inserted"] == 2
    assert first["003"]["already_present"] == 1
    assert second["003"]["inserted"] == 0
    assert second["003"]["already_present"] == 3
    kept = CourseRunEnrollment.all_objects.get(user=people[0].user)
    assert kept.enrollment_mode == "verified"
    assert CourseRunEnrollment.all_objects.count() == 3


def test_the_run_is_found_by_course_key_after_step_002(run_steps, learner, mapped_course):
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(course=mapped.mm)
    someone = learner()
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm)
    MMCachedEnrollmentFactory(user=someone.mm, course_run=mm_run)

    reports = run_steps("002", "003")

    enrollment = CourseRunEnrollment.all_objects.get()
    assert enrollment.run.courseware_id == mm_run.edx_course_key
    assert reports["003"]["inserted"] == 1
