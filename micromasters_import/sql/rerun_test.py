"""Re-runs skip the steps whose inputs are unchanged, and never skip a step with work to do."""

import re

from django.db import connection
from django.utils import timezone

from courses.models import CourseRun, CourseRunEnrollment
from micromasters_import.source.factories import (
    MMCachedEnrollmentFactory,
    MMCourseRunFactory,
    MMProctoredExamGradeFactory,
)


def staged_count(reports) -> int:
    """How many source tables a run copied, from its output."""
    match = re.search(r"Staged (\d+) MicroMasters table", reports["output"])
    return int(match.group(1)) if match else 0


def _enrolled_world(learner, mapped_course):
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(course=mapped.mm)
    someone = learner()
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm)
    MMCachedEnrollmentFactory(user=someone.mm, course_run=mm_run)
    return mapped, mm_run


def test_an_unchanged_rerun_reads_no_source_and_reports_the_last_counts(
    run_steps, learner, mapped_course
):
    _enrolled_world(learner, mapped_course)
    first = run_steps("002", "003")
    second = run_steps("002", "003")

    # Only what the post-run checks read is copied again (the learners), not the enrollments.
    assert staged_count(second) < staged_count(first)
    for num in ("002", "003"):
        assert f"Applying {num}_" in second["output"]
        assert second[num]["unchanged_since"]
        assert second[num]["inserted"] == 0
        assert second[num]["already_present"] == first[num]["inserted"]
        assert second[num]["candidates"] == first[num]["candidates"]


def test_a_new_source_row_makes_the_step_run_again(run_steps, learner, mapped_course):
    mapped, mm_run = _enrolled_world(learner, mapped_course)
    run_steps("002", "003")
    newcomer = learner()
    MMProctoredExamGradeFactory(user=newcomer.mm, course=mapped.mm)
    MMCachedEnrollmentFactory(user=newcomer.mm, course_run=mm_run)

    again = run_steps("002", "003")

    assert again["002"]["unchanged_since"]
    assert "unchanged_since" not in again["003"]
    assert again["003"]["inserted"] == 1
    assert CourseRunEnrollment.all_objects.filter(user=newcomer.user).exists()


def test_logins_and_profile_edits_leave_the_steps_unchanged(run_steps, learner, mapped_course):
    """A live MITx Online changes users' last_login and names all the time: no step reads them."""
    _enrolled_world(learner, mapped_course)
    someone = learner()
    run_steps("002", "003")
    someone.user.last_login = timezone.now()
    someone.user.name = "A New Name"
    someone.user.save()

    again = run_steps("002", "003")

    assert again["003"]["unchanged_since"]
    assert again["003"]["inserted"] == 0


def test_a_changed_username_makes_the_steps_that_link_accounts_run(
    run_steps, learner, mapped_course
):
    """A username is how a learner's account is found: changing one may link a learner."""
    mapped, mm_run = _enrolled_world(learner, mapped_course)
    newcomer = learner()
    MMProctoredExamGradeFactory(user=newcomer.mm, course=mapped.mm)
    MMCachedEnrollmentFactory(user=newcomer.mm, course_run=mm_run)
    newcomer.user.username = "someone-else"
    newcomer.user.save()
    first = run_steps("002", "003")
    assert first["003"]["inserted"] == 1  # the newcomer's account is not found by its uid

    newcomer.user.username = newcomer.mm.social.uid
    newcomer.user.save()
    again = run_steps("002", "003")

    assert again["002"]["unchanged_since"]
    assert "unchanged_since" not in again["003"]
    assert again["003"]["inserted"] == 1
    assert CourseRunEnrollment.all_objects.filter(user=newcomer.user).exists()


def test_a_deleted_target_row_is_imported_again(run_steps, learner, mapped_course):
    _enrolled_world(learner, mapped_course)
    run_steps("002", "003")
    CourseRunEnrollment.all_objects.all().delete()

    again = run_steps("002", "003")

    assert again["003"]["inserted"] == 1
    assert CourseRunEnrollment.all_objects.count() == 1


def test_a_new_mapping_makes_the_step_and_every_later_one_run(run_steps, learner, mapped_course):
    _enrolled_world(learner, mapped_course)
    first = run_steps("002", "003")
    assert first["002"]["inserted"] == 1
    newly_mapped_run = MMCourseRunFactory(course=mapped_course().mm)

    again = run_steps("002", "003")

    assert "unchanged_since" not in again["002"]
    assert again["002"]["inserted"] == 1
    assert CourseRun.all_objects.filter(courseware_id=newly_mapped_run.edx_course_key).exists()
    assert "unchanged_since" not in again["003"]
    assert again["003"]["already_present"] == 1


def test_recheck_runs_everything(run_steps, learner, mapped_course):
    _enrolled_world(learner, mapped_course)
    first = run_steps("002", "003")

    again = run_steps("002", "003", recheck=True)

    assert staged_count(again) == staged_count(first)
    assert "unchanged_since" not in again["002"]
    assert again["003"]["already_present"] == 1


def test_a_table_that_cannot_be_fingerprinted_never_lets_its_steps_be_skipped(
    run_steps, learner, mapped_course
):
    _enrolled_world(learner, mapped_course)
    run_steps("002", "003")
    with connection.cursor() as cursor:  # xml has no hash function
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE micromasters_import_courseid ADD COLUMN note xml")

    again = run_steps("002", "003")

    assert "unchanged_since" not in again["002"]
    assert "unchanged_since" not in again["003"]
    assert again["003"]["already_present"] == 1
