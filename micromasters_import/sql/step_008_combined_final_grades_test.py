"""Step 008: a passed final grade and the best passed exam become one combined run grade."""

from datetime import UTC, datetime

import pytest

from courses.factories import CourseRunGradeFactory
from courses.models import CourseRun, CourseRunGrade
from micromasters_import.source.factories import (
    MMCourseRunFactory,
    MMExamRunFactory,
    MMFinalGradeFactory,
    MMProctoredExamGradeFactory,
)
from micromasters_import.testing.reports import assert_only_skipped

GRADED_ON = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)
REGRADED_ON = datetime(2020, 3, 9, 17, 30, tzinfo=UTC)


@pytest.fixture
def exam_course(course_with_run):
    """A mapped course with an exam run, and one MicroMasters run already in MITx Online."""
    mapped, mm_run, run = course_with_run()
    MMExamRunFactory(course=mapped.mm)
    return mapped, mm_run, run


def test_combines_the_final_grade_with_the_best_passed_exam_with_every_value(
    run_step, learner, exam_course
):
    mapped, mm_run, run = exam_course
    someone = learner()
    MMFinalGradeFactory(
        user=someone.mm,
        course_run=mm_run,
        grade=0.53,
        created_on=GRADED_ON,
        updated_on=REGRADED_ON,
    )
    # The best passed score counts; a failed attempt with a higher score does not.
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm, score=70.0)
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm, score=92.75)
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm, score=99.0, passed=False)

    report = run_step("008")

    grade = CourseRunGrade.objects.get()
    assert grade.user == someone.user
    assert grade.course_run == run
    # 0.53 * 100 * 0.4 + 92.75 * 0.6 = 76.85 exactly; round(0.7685, 3) = 0.769 in numeric
    # (float8 arithmetic rounds the same inputs to 0.768).
    assert grade.grade == 0.769
    assert grade.letter_grade == "B"
    assert grade.passed is True
    assert grade.set_by_admin is False
    assert (grade.created_on, grade.updated_on) == (GRADED_ON, REGRADED_ON)
    assert (report["candidates"], report["inserted"]) == (1, 1)
    assert report["skipped"] == {}


@pytest.mark.parametrize(
    ("run_grade", "exam_score", "grade", "letter"),
    [
        pytest.param(0.75, 87.5, 0.825, "A", id="82.5-is-A"),
        pytest.param(0.749, 87.5, 0.825, "B", id="82.46-is-B-though-it-rounds-to-0.825"),
        pytest.param(0.5, 75.0, 0.65, "B", id="65-is-B"),
        pytest.param(0.5, 74.99, 0.65, "C", id="64.994-is-C"),
        # 0.568 * 40 + 53.8 * 0.6 is 55 in numeric but 54.99999999999999 in float8.
        pytest.param(0.568, 53.8, 0.55, "C", id="55-is-C-in-numeric"),
        pytest.param(0.5, 58.33, 0.55, "D", id="54.998-is-D"),
        # 0.443 * 40 + 53.8 * 0.6 is 50 in numeric but 49.99999999999999 in float8.
        pytest.param(0.443, 53.8, 0.5, "D", id="50-is-D-in-numeric"),
        pytest.param(0.5, 49.99, 0.5, "F", id="49.994-is-F"),
        pytest.param(0.5, 40.0, 0.44, "F", id="44-is-F"),
        # 74.25 exactly: numeric rounds 0.7425 up to 0.743, float8 gives 0.742.
        pytest.param(0.579, 85.15, 0.743, "B", id="half-way-rounds-up"),
    ],
)
def test_grade_and_letter_at_each_threshold(
    run_step, learner, exam_course, run_grade, exam_score, grade, letter
):
    mapped, mm_run, _run = exam_course
    someone = learner()
    MMFinalGradeFactory(user=someone.mm, course_run=mm_run, grade=run_grade)
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm, score=exam_score)

    report = run_step("008")

    imported = CourseRunGrade.objects.get()
    assert (imported.grade, imported.letter_grade) == (grade, letter)
    assert imported.passed is True  # also for an F: both parts were passed
    assert report["inserted"] == 1


def test_final_grades_not_complete_not_passed_or_without_grade_are_not_candidates(
    run_step, learner, exam_course
):
    mapped, mm_run, run = exam_course
    pending, failed, no_grade, good = learner(), learner(), learner(), learner()
    MMFinalGradeFactory(user=pending.mm, course_run=mm_run, status="pending")
    MMFinalGradeFactory(user=failed.mm, course_run=mm_run, passed=False, grade=0.3)
    MMFinalGradeFactory(user=no_grade.mm, course_run=mm_run, grade=None)
    MMFinalGradeFactory(user=good.mm, course_run=mm_run, grade=0.8)
    for person in (pending, failed, no_grade, good):
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm, score=80.0)

    report = run_step("008")

    assert list(CourseRunGrade.objects.values_list("user_id", "course_run_id", "grade")) == [
        (good.user.id, run.id, 0.8)
    ]
    assert (report["candidates"], report["inserted"]) == (1, 1)
    assert report["skipped"] == {}


def test_skips_grades_that_cannot_be_combined_and_says_why(
    run_step, learner, mapped_course, imported_run, exam_course, unlinkable
):
    mapped, mm_run, _run = exam_course
    # A course without exam runs: a passed exam grade (with no exam run) does not make it one.
    no_exam = mapped_course()
    no_exam_run = MMCourseRunFactory(course=no_exam.mm)
    imported_run(no_exam_run, no_exam.course)
    without_exam_course = learner()
    MMFinalGradeFactory(user=without_exam_course.mm, course_run=no_exam_run)
    MMProctoredExamGradeFactory(user=without_exam_course.mm, course=no_exam.mm, exam_run=None)
    # Exam course, but no passed exam for it: failed, none at all, or another course's.
    failed_exam, never_sat, other_course_exam = learner(), learner(), learner()
    MMProctoredExamGradeFactory(user=failed_exam.mm, course=mapped.mm, passed=False, score=90.0)
    MMProctoredExamGradeFactory(user=other_course_exam.mm)
    for person in (failed_exam, never_sat, other_course_exam):
        MMFinalGradeFactory(user=person.mm, course_run=mm_run)
    # A run of the exam course that never became a MITx Online run.
    run_missing = learner()
    lone_run = MMCourseRunFactory(course=mapped.mm)
    MMFinalGradeFactory(user=run_missing.mm, course_run=lone_run)
    MMProctoredExamGradeFactory(user=run_missing.mm, course=mapped.mm)
    # Learners who cannot be found in MITx Online.
    for mm_user in unlinkable:
        MMProctoredExamGradeFactory(user=mm_user, course=mapped.mm)
        unknown_grade = MMFinalGradeFactory(user=mm_user, course_run=mm_run)  # the last: unknown

    report = run_step("008")

    assert_only_skipped(
        report,
        CourseRunGrade,
        exam_not_passed=3,
        no_linked_account=2,
        course_has_no_exam=1,
        run_not_imported=1,
        unknown_mitxonline_user=1,
    )
    assert report["samples"]["unknown_mitxonline_user"] == [unknown_grade.id]


def test_an_existing_grade_is_kept_and_a_second_run_inserts_nothing(
    run_twice, learner, exam_course
):
    mapped, mm_run, run = exam_course
    graded, fresh = learner(), learner()
    for person in (graded, fresh):
        MMFinalGradeFactory(user=person.mm, course_run=mm_run, grade=0.9)
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm, score=90.0)
    CourseRunGradeFactory(
        user=graded.user, course_run=run, grade=0.1, letter_grade="F", passed=False
    )

    first, second = run_twice("008")

    assert (first["inserted"], first["already_present"]) == (1, 1)
    assert (second["inserted"], second["already_present"]) == (0, 2)
    assert second["skipped"] == {}
    kept = CourseRunGrade.objects.get(user=graded.user)
    assert (kept.grade, kept.letter_grade, kept.passed) == (0.1, "F", False)
    assert CourseRunGrade.objects.get(user=fresh.user).grade == 0.9
    assert CourseRunGrade.objects.count() == 2


def test_after_step_002_each_run_gets_its_grade_with_the_course_exam(
    run_steps, learner, mapped_course
):
    mapped = mapped_course()
    MMExamRunFactory(course=mapped.mm)
    spring, fall = MMCourseRunFactory(course=mapped.mm), MMCourseRunFactory(course=mapped.mm)
    someone = learner()
    MMFinalGradeFactory(user=someone.mm, course_run=spring, grade=0.6)
    MMFinalGradeFactory(user=someone.mm, course_run=fall, grade=0.9)
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm, score=70.0)

    reports = run_steps("002", "008")

    by_key = {
        grade.course_run.courseware_id: (grade.grade, grade.letter_grade)
        for grade in CourseRunGrade.objects.select_related("course_run")
    }
    # 0.6 * 40 + 70 * 0.6 = 66 -> B; 0.9 * 40 + 70 * 0.6 = 78 -> B
    assert by_key == {spring.edx_course_key: (0.66, "B"), fall.edx_course_key: (0.78, "B")}
    assert CourseRun.all_objects.filter(course=mapped.course).count() == 2
    assert reports["002"]["inserted"] == 2
    assert reports["008"]["inserted"] == 2


def test_impossible_final_grades_are_skipped_by_id_and_the_valid_one_lands(
    run_step, learner, exam_course
):
    # The issue: final grades 1.5, -0.5 and 'NaN' became grades 1.133 (A), 0.248 (F) and
    # NaN (A), all passed.
    mapped, mm_run, run = exam_course
    valid, above, below, not_a_number = learner(), learner(), learner(), learner()
    bad = {}
    for person, value in [(valid, 0.5), (above, 1.5), (below, -0.5), (not_a_number, "NaN")]:
        made = MMFinalGradeFactory(user=person.mm, course_run=mm_run, grade=value)
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm, score=80.0)
        if person is not valid:
            bad[person.mm.id] = made.id

    report = run_step("008")

    # 0.5 * 40 + 80 * 0.6 = 68 -> B
    assert list(
        CourseRunGrade.objects.values_list("user_id", "course_run_id", "grade", "letter_grade")
    ) == [(valid.user.id, run.id, 0.68, "B")]
    assert (report["candidates"], report["inserted"]) == (4, 1)
    assert report["skipped"] == {"invalid_grade": 3}
    assert report["samples"]["invalid_grade"] == sorted(bad.values())


@pytest.mark.parametrize("score", [150.0, -1.0, float("nan"), float("inf")])
def test_an_impossible_passed_exam_score_skips_the_grades_of_that_course(
    run_step, learner, exam_course, score
):
    mapped, mm_run, run = exam_course
    impossible, fine = learner(), learner()
    skipped = MMFinalGradeFactory(user=impossible.mm, course_run=mm_run, grade=0.9)
    MMProctoredExamGradeFactory(user=impossible.mm, course=mapped.mm, score=70.0)
    MMProctoredExamGradeFactory(user=impossible.mm, course=mapped.mm, score=score)
    MMFinalGradeFactory(user=fine.mm, course_run=mm_run, grade=0.9)
    MMProctoredExamGradeFactory(user=fine.mm, course=mapped.mm, score=70.0)

    report = run_step("008")

    # 0.9 * 40 + 70 * 0.6 = 78 -> B
    assert list(
        CourseRunGrade.objects.values_list("user_id", "course_run_id", "grade", "letter_grade")
    ) == [(fine.user.id, run.id, 0.78, "B")]
    assert report["skipped"] == {"invalid_exam_score": 1}
    assert report["samples"]["invalid_exam_score"] == [skipped.id]


def test_bounds_are_inclusive(run_step, learner, exam_course):
    mapped, mm_run, _run = exam_course
    lowest, highest = learner(), learner()
    for person, grade, score in [(lowest, 0.0, 0.0), (highest, 1.0, 100.0)]:
        MMFinalGradeFactory(user=person.mm, course_run=mm_run, grade=grade)
        MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm, score=score)

    report = run_step("008")

    assert sorted(CourseRunGrade.objects.values_list("grade", "letter_grade")) == [
        (0.0, "F"),
        (1.0, "A"),
    ]
    assert report["skipped"] == {}


def test_of_two_final_grades_for_one_run_a_valid_one_is_chosen(
    run_step, learner, exam_course, drop_unique
):
    # NaN sorts above every number: without the validity first, it would be "the best".
    drop_unique("micromasters", "grades_finalgrade", "user_id", "course_run_id")
    mapped, mm_run, _run = exam_course
    someone = learner()
    MMFinalGradeFactory(user=someone.mm, course_run=mm_run, grade="NaN")
    MMFinalGradeFactory(user=someone.mm, course_run=mm_run, grade=0.6)
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm, score=70.0)

    report = run_step("008")

    # 0.6 * 40 + 70 * 0.6 = 66 -> B
    assert list(CourseRunGrade.objects.values_list("user_id", "grade", "letter_grade")) == [
        (someone.user.id, 0.66, "B")
    ]
    assert (report["candidates"], report["inserted"]) == (1, 1)
