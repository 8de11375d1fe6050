"""Re-runs skip the steps whose inputs are unchanged, and never skip a step with work to do."""

import re

import pytest
from django.db import connection
from django.utils import timezone

from courses.models import CourseRun, CourseRunEnrollment
from micromasters_import.source.factories import MMCourseRunFactory
from micromasters_import.testing.statements import statements_sent


def staged_count(reports) -> int:
    """How many source tables a run copied, from its output."""
    match = re.search(r"Staged (\d+) MicroMasters table", reports["output"])
    return int(match.group(1)) if match else 0


@pytest.fixture
def enrolled_world(mapped_course, enrolled_passer):
    """A mapped course with a run (002 brings it over) and one learner 003 enrolls in it."""
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(course=mapped.mm)
    enrolled_passer(mapped, mm_run)
    return mapped, mm_run


def assert_only_003_ran_and_enrolled(again, newcomer):
    """002's inputs are unchanged, so it was skipped; 003's changed: it ran and enrolled."""
    assert again["002"]["unchanged_since"]
    assert "unchanged_since" not in again["003"]
    assert again["003"]["inserted"] == 1
    assert CourseRunEnrollment.all_objects.filter(user=newcomer.user).exists()


def test_an_unchanged_rerun_reads_no_source_and_reports_the_last_counts(run_steps, enrolled_world):
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


def test_a_new_source_row_makes_the_step_run_again(run_steps, enrolled_passer, enrolled_world):
    run_steps("002", "003")
    newcomer = enrolled_passer(*enrolled_world)

    again = run_steps("002", "003")

    assert_only_003_ran_and_enrolled(again, newcomer)


def test_logins_and_profile_edits_leave_the_steps_unchanged(run_steps, learner, enrolled_world):
    """A live MITx Online changes users' last_login and names all the time: no step reads them."""
    someone = learner()
    run_steps("002", "003")
    someone.user.last_login = timezone.now()
    someone.user.name = "A New Name"
    someone.user.save()

    again = run_steps("002", "003")

    assert again["003"]["unchanged_since"]
    assert again["003"]["inserted"] == 0


def test_provenance_rows_alone_leave_the_steps_unchanged(run_steps, enrolled_world):
    """Every step writes provenance rows and none reads them: another run's provenance (here,
    rows of an earlier run removed as a revert would) changes nothing a step decides on."""
    run_steps("002", "003")
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM micromasters_import_importedrow WHERE target_table = %s",
            ["courses_courserun"],
        )
        assert cursor.rowcount == 1

    again = run_steps("002", "003")

    assert again["002"]["unchanged_since"]
    assert again["003"]["unchanged_since"]
    assert again["003"]["inserted"] == 0


def test_a_rerun_records_the_tables_it_did_not_write_as_it_read_them(
    run_steps, enrolled_passer, enrolled_world
):
    """A re-run fingerprints MITx Online's tables before any step reads them; at its end it
    fingerprints again only what its steps wrote. Fingerprinting the others again would cost
    a scan each and could hide a change a live site made after a step had read the table."""
    run_steps("002", "003")
    enrolled_passer(*enrolled_world)

    def fingerprinting(table):
        return lambda text: f'FROM "{table}" AS t' in text and "sum(" in text

    with (
        statements_sent(fingerprinting("users_user")) as users,
        statements_sent(fingerprinting("courses_courserunenrollment")) as enrollments,
    ):
        again = run_steps("002", "003")

    assert again["003"]["inserted"] == 1
    assert len(users) == 1  # read once, before the steps; not written
    assert len(enrollments) == 2  # and again after 003 wrote it


def test_a_changed_username_makes_the_steps_that_link_accounts_run(
    run_steps, enrolled_passer, enrolled_world
):
    """A username is how a learner's account is found: changing one may link a learner."""
    newcomer = enrolled_passer(*enrolled_world)
    newcomer.user.username = "someone-else"
    newcomer.user.save()
    first = run_steps("002", "003")
    assert first["003"]["inserted"] == 1  # the newcomer's account is not found by its uid

    newcomer.user.username = newcomer.mm.social.uid
    newcomer.user.save()
    again = run_steps("002", "003")

    assert_only_003_ran_and_enrolled(again, newcomer)


def test_a_deleted_target_row_is_imported_again(run_steps, enrolled_world):
    run_steps("002", "003")
    CourseRunEnrollment.all_objects.all().delete()

    again = run_steps("002", "003")

    assert again["003"]["inserted"] == 1
    assert CourseRunEnrollment.all_objects.count() == 1


def test_a_new_mapping_makes_the_step_and_every_later_one_run(
    run_steps, mapped_course, enrolled_world
):
    first = run_steps("002", "003")
    assert first["002"]["inserted"] == 1
    newly_mapped_run = MMCourseRunFactory(course=mapped_course().mm)

    again = run_steps("002", "003")

    assert "unchanged_since" not in again["002"]
    assert again["002"]["inserted"] == 1
    assert CourseRun.all_objects.filter(courseware_id=newly_mapped_run.edx_course_key).exists()
    assert "unchanged_since" not in again["003"]
    assert again["003"]["already_present"] == 1


def test_recheck_runs_everything(run_steps, enrolled_world):
    first = run_steps("002", "003")

    again = run_steps("002", "003", recheck=True)

    assert staged_count(again) == staged_count(first)
    assert "unchanged_since" not in again["002"]
    assert again["003"]["already_present"] == 1


def test_a_table_that_cannot_be_fingerprinted_never_lets_its_steps_be_skipped(
    run_steps, enrolled_world
):
    run_steps("002", "003")
    with connection.cursor() as cursor:  # xml has no hash function
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE micromasters_import_courseid ADD COLUMN note xml")

    again = run_steps("002", "003")

    assert "unchanged_since" not in again["002"]
    assert "unchanged_since" not in again["003"]
    assert again["003"]["already_present"] == 1
