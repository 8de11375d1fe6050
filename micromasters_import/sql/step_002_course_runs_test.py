"""Step 002: MicroMasters runs become MITx Online runs, under the rules of 002_course_runs.sql."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from courses.factories import CourseRunFactory
from courses.models import CourseRun
from micromasters_import.source.factories import MMCourseRunFactory
from micromasters_import.testing.reports import assert_only_skipped


def test_imports_an_edxorg_run_of_a_mapped_course_with_every_value(run_step, mapped_course):
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(
        course=mapped.mm,
        title="Microeconomics - Fall 2019",
        edx_course_key="course-v1:MITx+14.100x+3T2019",
        enrollment_url="https://courses.edx.org/enroll",
    )

    report = run_step("002")

    run = CourseRun.all_objects.get(courseware_id="course-v1:MITx+14.100x+3T2019")
    assert run.course == mapped.course
    assert run.title == "Microeconomics - Fall 2019"
    assert run.run_tag == "3T2019"
    assert run.start_date == mm_run.start_date
    assert run.end_date == mm_run.end_date
    assert run.enrollment_start == mm_run.enrollment_start
    assert run.enrollment_end == mm_run.enrollment_end
    assert run.upgrade_deadline == mm_run.upgrade_deadline
    assert run.expiration_date == mm_run.end_date + timedelta(days=1)
    assert run.certificate_available_date is None
    assert (run.live, run.is_self_paced, run.is_source_run) == (True, False, False)
    assert run.has_courseware_url is True
    assert (run.language, run.is_primary_language) == ("en", False)
    assert (run.variant_length, run.variant_industry) == ("", "")
    assert run.b2b_contract_id is None
    assert (report["inserted"], report["candidates"]) == (1, 1)


def test_run_tag_of_a_legacy_slash_key_and_no_url(run_step, mapped_course):
    mapped = mapped_course()
    MMCourseRunFactory(course=mapped.mm, edx_course_key="MITx/14.73x_1/1T2016", enrollment_url=None)

    run_step("002")

    run = CourseRun.all_objects.get(courseware_id="MITx/14.73x_1/1T2016")
    assert run.run_tag == "1T2016"
    assert run.has_courseware_url is False


def test_skips_runs_that_must_not_come_over_and_says_why(run_step, mapped_course, mm):
    mapped = mapped_course()
    MMCourseRunFactory(course=mapped.mm, is_discontinued=True)
    MMCourseRunFactory(course=mapped.mm, courseware_backend="mitxonline")
    MMCourseRunFactory(course=mapped.mm, edx_course_key=None)
    MMCourseRunFactory()  # its course is not mapped

    report = run_step("002")

    assert_only_skipped(
        report,
        CourseRun,
        course_not_mapped=1,
        run_discontinued=1,
        run_not_on_edxorg=1,
        run_without_course_key=1,
    )


def test_a_run_already_in_mitx_online_is_left_alone(run_step, mapped_course):
    mapped = mapped_course()
    mm_run = MMCourseRunFactory(course=mapped.mm)
    existing = CourseRunFactory(
        course=mapped.course, courseware_id=mm_run.edx_course_key, title="Kept as it is"
    )

    report = run_step("002")

    assert list(CourseRun.all_objects.values_list("id", "title")) == [
        (existing.id, "Kept as it is")
    ]
    assert (report["already_present"], report["inserted"]) == (1, 0)


def test_a_run_colliding_with_an_existing_run_of_the_same_course_and_tag_is_a_conflict(
    run_step, mapped_course
):
    mapped = mapped_course()
    MMCourseRunFactory(course=mapped.mm, edx_course_key="course-v1:MITx+14.100x+3T2019")
    CourseRunFactory(
        course=mapped.course,
        courseware_id="course-v1:MITxT+14.100x+3T2019",
        run_tag="3T2019",
        language="en",
    )

    report = run_step("002")

    assert not CourseRun.all_objects.filter(courseware_id="course-v1:MITx+14.100x+3T2019").exists()
    assert report["skipped"] == {"conflict": 1}


def test_new_runs_colliding_with_each_other_keep_the_lowest_micromasters_id(
    run_step, mapped_course
):
    mapped = mapped_course()
    first = MMCourseRunFactory(course=mapped.mm, edx_course_key="course-v1:MITx+14.100x+3T2019")
    MMCourseRunFactory(course=mapped.mm, edx_course_key="MITx/14.100x/3T2019")

    report = run_step("002")

    assert list(CourseRun.all_objects.values_list("courseware_id", flat=True)) == [
        first.edx_course_key
    ]
    assert report["inserted"] == 1
    assert report["skipped"] == {"conflict": 1}
    assert report["samples"]["conflict"] == [first.id + 1]


def test_a_second_run_inserts_nothing(run_twice, mapped_course):
    mapped = mapped_course()
    MMCourseRunFactory.create_batch(3, course=mapped.mm)

    first, second = run_twice("002")

    assert first["inserted"] == 3
    assert (second["inserted"], second["already_present"]) == (0, 3)
    assert CourseRun.all_objects.count() == 3


@pytest.mark.parametrize("tag_course", [True, False])
def test_runs_of_different_courses_may_share_a_run_tag(run_step, mapped_course, tag_course):
    one, two = mapped_course(), mapped_course()
    MMCourseRunFactory(course=one.mm, edx_course_key="course-v1:MITx+A+1T2020")
    MMCourseRunFactory(
        course=two.mm if tag_course else one.mm, edx_course_key="course-v1:MITx+B+1T2020"
    )

    report = run_step("002")

    assert report["inserted"] == (2 if tag_course else 1)


def test_values_that_do_not_fit_mitxonline_are_skipped_by_id(run_step, mapped_course, mm):
    # The source's varchar(255) widened (or bypassed): nothing longer than MITx Online's
    # columns may reach them, and nothing may stop the step.
    with connection.cursor() as cursor:
        for column in ("title", "edx_course_key"):
            cursor.execute(f"ALTER TABLE {mm}.courses_courserun ALTER COLUMN {column} TYPE text")
    mapped = mapped_course()
    fine = MMCourseRunFactory(course=mapped.mm, edx_course_key="course-v1:MITx+T+1T2020")
    long_title = MMCourseRunFactory(course=mapped.mm, title="t" * 256)
    long_key = MMCourseRunFactory(course=mapped.mm, edx_course_key="course-v1:" + "k" * 250)
    long_tag = MMCourseRunFactory(course=mapped.mm, edx_course_key="MITx/T/" + "r" * 101)
    backwards = MMCourseRunFactory(
        course=mapped.mm,
        start_date=datetime(2020, 1, 10, tzinfo=UTC),
        end_date=datetime(2020, 1, 8, 23, 0, tzinfo=UTC),  # + 1 day is still before the start
    )
    # A run that ends less than a day before it starts still expires after its start.
    MMCourseRunFactory(
        course=mapped.mm,
        edx_course_key="course-v1:MITx+T+EDGE",
        start_date=datetime(2020, 1, 10, tzinfo=UTC),
        end_date=datetime(2020, 1, 9, tzinfo=UTC),
    )

    report = run_step("002")

    assert sorted(CourseRun.all_objects.values_list("courseware_id", "title")) == [
        ("course-v1:MITx+T+1T2020", fine.title),
        ("course-v1:MITx+T+EDGE", CourseRun.all_objects.get(run_tag="EDGE").title),
    ]
    assert report["skipped"] == {"text_too_long": 3, "invalid_run_dates": 1}
    assert report["samples"]["text_too_long"] == sorted([long_title.id, long_key.id, long_tag.id])
    assert report["samples"]["invalid_run_dates"] == [backwards.id]
