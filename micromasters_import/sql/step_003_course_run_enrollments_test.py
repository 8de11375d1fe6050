"""Step 003: cached MicroMasters enrollments of exam passers become run enrollments."""

import pytest

from courses.models import CourseRunEnrollment
from micromasters_import.models import ImportRun
from micromasters_import.source.factories import (
    MMCachedEnrollmentFactory,
    MMCourseRunFactory,
    MMProctoredExamGradeFactory,
)
from micromasters_import.testing.reports import assert_only_skipped


def test_imports_the_enrollment_of_an_exam_passer_with_every_value(
    run_step, enrolled_passer, course_with_run
):
    mapped, mm_run, run = course_with_run()
    someone = enrolled_passer(mapped, mm_run, mode="verified", is_active=False)

    report = run_step("003")

    enrollment = CourseRunEnrollment.all_objects.get()
    assert enrollment.user == someone.user
    assert enrollment.run == run
    assert enrollment.active is False
    assert enrollment.enrollment_mode == "verified"
    assert enrollment.change_status is None
    assert enrollment.edx_enrolled is True
    assert enrollment.edx_emails_subscription is False
    assert enrollment.edx_enrollment_retry_count == 0
    assert (report["inserted"], report["candidates"]) == (1, 1)


def test_a_missing_or_null_mode_becomes_audit_and_a_missing_is_active_means_active(
    run_step, enrolled_passer, course_with_run
):
    mapped, mm_run, _run = course_with_run()
    without_mode = enrolled_passer(
        mapped, mm_run, data={"user": "x", "course_details": {"course_id": mm_run.edx_course_key}}
    )
    null_mode = enrolled_passer(mapped, mm_run, data={"mode": None, "is_active": True})

    run_step("003")

    rows = CourseRunEnrollment.all_objects.order_by("user__username")
    assert sorted((e.user_id, e.enrollment_mode, e.active) for e in rows) == sorted(
        [(without_mode.user.id, "audit", True), (null_mode.user.id, "audit", True)]
    )


def test_skips_learners_who_cannot_or_must_not_be_enrolled_and_says_why(
    run_step, learner, enrolled_passer, course_with_run, unlinkable
):
    mapped, mm_run, _run = course_with_run()
    failed = learner()
    MMProctoredExamGradeFactory(user=failed.mm, course=mapped.mm, passed=False, score=40.0)
    other_course = learner()
    MMProctoredExamGradeFactory(user=other_course.mm)  # passed, but another course's exam
    for mm_user in unlinkable:
        MMProctoredExamGradeFactory(user=mm_user, course=mapped.mm)
    for mm_user in [*unlinkable, failed.mm, other_course.mm]:
        MMCachedEnrollmentFactory(user=mm_user, course_run=mm_run)
    lone_run = MMCourseRunFactory(course=mapped.mm)  # never became a MITx Online run
    enrolled_passer(mapped, lone_run)

    report = run_step("003")

    assert_only_skipped(
        report,
        CourseRunEnrollment,
        no_linked_account=2,
        exam_not_passed=2,
        run_not_imported=1,
        unknown_mitxonline_user=1,
    )
    assert report["samples"]["no_linked_account"] == sorted(report["samples"]["no_linked_account"])


def test_an_existing_enrollment_is_kept_and_a_second_run_inserts_nothing(
    run_twice, enrolled_passer, course_with_run
):
    mapped, mm_run, run = course_with_run()
    people = [enrolled_passer(mapped, mm_run, mode="audit") for _ in range(3)]
    CourseRunEnrollment.all_objects.create(
        user=people[0].user, run=run, enrollment_mode="verified", active=True
    )

    first, second = run_twice("003")

    assert (first["inserted"], first["already_present"]) == (2, 1)
    assert (second["inserted"], second["already_present"]) == (0, 3)
    kept = CourseRunEnrollment.all_objects.get(user=people[0].user)
    assert kept.enrollment_mode == "verified"
    assert CourseRunEnrollment.all_objects.count() == 3


def test_the_run_is_found_by_course_key_after_step_002(run_steps, enrolled_passer, mapped_course):
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(course=mapped.mm)
    enrolled_passer(mapped, mm_run)

    reports = run_steps("002", "003")

    enrollment = CourseRunEnrollment.all_objects.get()
    assert enrollment.run.courseware_id == mm_run.edx_course_key
    assert reports["003"]["inserted"] == 1


def test_malformed_is_active_and_modes_are_skipped_by_id_and_the_other_rows_land(
    run_steps, learner, mapped_course
):
    # The issue: is_active "maybe" aborted staging (nothing imported); a 300-character mode
    # failed 003 after 002 had committed; mode 'bogus-mode' landed verbatim.
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(course=mapped.mm)  # 002 brings it over
    good, maybe, long_mode, bogus = learner(), learner(), learner(), learner()
    for person in (good, maybe, long_mode, bogus):
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm)
    MMCachedEnrollmentFactory(user=good.mm, course_run=mm_run, mode="honor", is_active=False)
    not_boolean = MMCachedEnrollmentFactory(user=maybe.mm, course_run=mm_run, is_active="maybe")
    too_long = MMCachedEnrollmentFactory(user=long_mode.mm, course_run=mm_run, mode="v" * 300)
    not_a_mode = MMCachedEnrollmentFactory(user=bogus.mm, course_run=mm_run, mode="bogus-mode")

    reports = run_steps("002", "003")

    assert reports["002"]["inserted"] == 1
    assert list(
        CourseRunEnrollment.all_objects.values_list(
            "user_id", "run__courseware_id", "active", "enrollment_mode"
        )
    ) == [(good.user.id, mm_run.edx_course_key, False, "honor")]
    report = reports["003"]
    assert (report["candidates"], report["inserted"]) == (4, 1)
    assert report["skipped"] == {"invalid_enrollment_mode": 2, "invalid_is_active": 1}
    assert report["samples"]["invalid_is_active"] == [not_boolean.id]
    assert report["samples"]["invalid_enrollment_mode"] == sorted([too_long.id, not_a_mode.id])
    assert {run.status for run in ImportRun.objects.all()} == {ImportRun.DONE}

    again = run_steps("003")

    assert again["003"]["inserted"] == 0
    assert again["003"]["skipped"] == report["skipped"]
    assert CourseRunEnrollment.all_objects.count() == 1


@pytest.mark.parametrize(
    ("is_active", "mode", "outcome"),
    [
        pytest.param("true", "audit", "invalid_is_active", id="a-string-is-not-a-boolean"),
        pytest.param(1, "audit", "invalid_is_active", id="a-number-is-not-a-boolean"),
        pytest.param([True], "audit", "invalid_is_active", id="an-array-is-not-a-boolean"),
        pytest.param(True, 7, "invalid_enrollment_mode", id="a-number-is-not-a-mode"),
        pytest.param(True, "Verified", "invalid_enrollment_mode", id="modes-are-lower-case"),
        pytest.param(True, "", "invalid_enrollment_mode", id="empty-is-not-a-mode"),
        pytest.param(None, None, "inserted", id="null-is-active-and-null-mode-are-defaults"),
    ],
)
def test_each_value_that_is_not_a_boolean_or_an_edx_mode_is_skipped(
    run_step, learner, course_with_run, is_active, mode, outcome
):
    mapped, mm_run, _run = course_with_run()
    someone = learner()
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm)
    row = MMCachedEnrollmentFactory(
        user=someone.mm, course_run=mm_run, data={"is_active": is_active, "mode": mode}
    )

    report = run_step("003")

    if outcome == "inserted":
        assert list(CourseRunEnrollment.all_objects.values_list("active", "enrollment_mode")) == [
            (True, "audit")
        ]
        assert report["inserted"] == 1
    else:
        assert CourseRunEnrollment.all_objects.count() == 0
        assert report["skipped"] == {outcome: 1}
        assert report["samples"][outcome] == [row.id]


EDX_MODES = [
    "audit",
    "honor",
    "verified",
    "professional",
    "no-id-professional",
    "credit",
    "masters",
]


@pytest.mark.parametrize("mode", EDX_MODES)
def test_every_edx_mode_is_imported_as_it_is(run_step, enrolled_passer, course_with_run, mode):
    mapped, mm_run, _run = course_with_run()
    enrolled_passer(mapped, mm_run, mode=mode)

    run_step("003")

    assert CourseRunEnrollment.all_objects.get().enrollment_mode == mode
