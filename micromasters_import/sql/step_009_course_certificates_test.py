"""Step 009: MicroMasters course certificates land on the learner's best-graded imported run."""

import uuid
from datetime import UTC, datetime

from courses.factories import CourseRunCertificateFactory, CourseRunGradeFactory
from courses.models import CourseRunCertificate
from micromasters_import.source.factories import (
    MMCourseCertificateFactory,
    MMCourseRunFactory,
    MMExamRunFactory,
    MMFinalGradeFactory,
    MMProctoredExamGradeFactory,
)
from micromasters_import.testing.reports import assert_only_skipped

EARLY = datetime(2019, 6, 30, tzinfo=UTC)
LATE = datetime(2019, 12, 20, tzinfo=UTC)


def _when(day, hour=10):
    return datetime(2020, 2, day, hour, 0, tzinfo=UTC)


def _run(mapped, imported_run, end_date=LATE):
    """A MicroMasters run of `mapped` and the MITx Online run standing for it."""
    return imported_run(MMCourseRunFactory(course=mapped.mm), mapped.course, end_date=end_date)


def _graded(user, run, grade):
    return CourseRunGradeFactory(user=user, course_run=run, grade=grade, passed=True)


def test_imports_a_certificate_with_every_value(run_step, learner, mapped_course, imported_run):
    mapped = mapped_course()
    run = _run(mapped, imported_run)
    someone = learner()
    _graded(someone.user, run, 0.8)
    cert = MMCourseCertificateFactory(
        user=someone.mm,
        course=mapped.mm,
        hash="0F1E2D3C4B5A69788796A5B4C3D2E1F0",
        created_on=_when(1),
        updated_on=_when(3),
    )

    report = run_step("009")

    imported = CourseRunCertificate.all_objects.get()
    assert imported.user == someone.user
    assert imported.course_run == run
    assert imported.uuid == uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    assert imported.issue_date == cert.created_on == _when(1)
    assert (imported.created_on, imported.updated_on) == (_when(1), _when(3))
    assert imported.is_revoked is False
    assert imported.verifiable_credential is None
    assert imported.certificate_page_revision == mapped.revision.certificate_page_revision
    assert (report["candidates"], report["inserted"]) == (1, 1)
    assert report["skipped"] == {}


def test_the_run_with_the_highest_grade_wins_even_if_it_ended_earlier(
    run_step, learner, mapped_course, imported_run
):
    mapped = mapped_course()
    ended_late, ended_early = _run(mapped, imported_run, LATE), _run(mapped, imported_run, EARLY)
    someone = learner()
    _graded(someone.user, ended_late, 0.7)
    _graded(someone.user, ended_early, 0.9)
    # A higher grade in a run of another course does not count.
    other = mapped_course()
    _graded(someone.user, _run(other, imported_run), 1.0)
    MMCourseCertificateFactory(user=someone.mm, course=mapped.mm)

    run_step("009")

    assert CourseRunCertificate.all_objects.get().course_run == ended_early


def test_equal_grades_go_to_the_latest_end_date_then_the_highest_run_id(
    run_step, learner, mapped_course, imported_run
):
    mapped = mapped_course()
    # Created first, so the lowest id: only the end date can make it win.
    ended_late = _run(mapped, imported_run, LATE)
    ended_early = _run(mapped, imported_run, EARLY)
    by_date = learner()
    _graded(by_date.user, ended_early, 0.8)
    _graded(by_date.user, ended_late, 0.8)
    MMCourseCertificateFactory(user=by_date.mm, course=mapped.mm)
    lower_id, higher_id = _run(mapped, imported_run, LATE), _run(mapped, imported_run, LATE)
    by_id = learner()
    _graded(by_id.user, higher_id, 0.8)
    _graded(by_id.user, lower_id, 0.8)
    MMCourseCertificateFactory(user=by_id.mm, course=mapped.mm)

    report = run_step("009")

    placed = dict(CourseRunCertificate.all_objects.values_list("user_id", "course_run_id"))
    assert placed == {by_date.user.id: ended_late.id, by_id.user.id: higher_id.id}
    assert report["inserted"] == 2


def test_duplicate_certificates_collapse_to_the_earliest_then_lowest_id(
    run_step, learner, mapped_course, imported_run
):
    mapped = mapped_course()
    run = _run(mapped, imported_run)
    someone = learner()
    _graded(someone.user, run, 0.8)
    later = MMCourseCertificateFactory(user=someone.mm, course=mapped.mm, created_on=_when(5))
    winner = MMCourseCertificateFactory(
        user=someone.mm, course=mapped.mm, created_on=_when(2), updated_on=_when(9)
    )
    same_time = MMCourseCertificateFactory(user=someone.mm, course=mapped.mm, created_on=_when(2))

    report = run_step("009")

    imported = CourseRunCertificate.all_objects.get()
    assert imported.uuid == uuid.UUID(winner.hash)
    assert imported.issue_date == _when(2)
    assert (imported.created_on, imported.updated_on) == (_when(2), _when(9))
    assert (report["candidates"], report["inserted"]) == (3, 1)
    assert report["skipped"] == {"superseded": 2}
    assert report["samples"]["superseded"] == [later.id, same_time.id]


def test_skips_certificates_that_cannot_be_placed_and_says_why(
    run_step, learner, mapped_course, imported_run, mm, unlinkable
):
    mapped = mapped_course()
    run = _run(mapped, imported_run)
    for mm_user in unlinkable:
        MMCourseCertificateFactory(user=mm_user, course=mapped.mm)
    MMCourseCertificateFactory(user=None, course=mapped.mm)
    # A course nobody mapped.
    unmapped = learner()
    MMCourseCertificateFactory(user=unmapped.mm)
    # A mapped course without a CourseCertificateRevisionId row.
    no_revision = mapped_course(revision=False)
    unrevised = learner()
    _graded(unrevised.user, _run(no_revision, imported_run), 0.9)
    no_revision_cert = MMCourseCertificateFactory(user=unrevised.mm, course=no_revision.mm)
    # Hashes that are not 32 hex digits are reported, never cast.
    bad_hash = learner()
    _graded(bad_hash.user, run, 0.9)
    for text in ["not-a-certificate-hash", "g" * 32, "a" * 31]:
        MMCourseCertificateFactory(user=bad_hash.mm, course=mapped.mm, hash=text)
    # No MITx Online grade for any run of the course.
    ungraded = learner()
    _graded(ungraded.user, _run(mapped_course(), imported_run), 0.9)  # another course's run
    MMCourseCertificateFactory(user=ungraded.mm, course=mapped.mm)

    report = run_step("009")

    assert_only_skipped(
        report,
        CourseRunCertificate,
        invalid_hash=3,
        no_linked_account=3,
        course_not_mapped=1,
        no_imported_grade=1,
        revision_not_mapped=1,
        unknown_mitxonline_user=1,
    )
    assert report["samples"]["revision_not_mapped"] == [no_revision_cert.id]


def test_a_learner_with_a_certificate_for_the_course_keeps_it_as_a_conflict(
    run_step, learner, mapped_course, imported_run
):
    mapped = mapped_course()
    graded_run, other_run = _run(mapped, imported_run), _run(mapped, imported_run)
    holder = learner()
    _graded(holder.user, graded_run, 0.9)
    existing = CourseRunCertificateFactory(user=holder.user, course_run=other_run)
    holder_cert = MMCourseCertificateFactory(user=holder.mm, course=mapped.mm)
    # The uuid is already another learner's certificate.
    clash = learner()
    _graded(clash.user, graded_run, 0.9)
    taken = MMCourseCertificateFactory(user=clash.mm, course=mapped.mm)
    CourseRunCertificateFactory(course_run=graded_run, uuid=uuid.UUID(taken.hash))

    report = run_step("009")

    assert list(
        CourseRunCertificate.all_objects.filter(user=holder.user).values_list(
            "id", "course_run_id", "uuid"
        )
    ) == [(existing.id, other_run.id, existing.uuid)]
    assert not CourseRunCertificate.all_objects.filter(user=clash.user).exists()
    assert report["inserted"] == 0
    assert report["skipped"] == {"conflict": 2}
    assert report["samples"]["conflict"] == [holder_cert.id, taken.id]


def test_a_certificate_already_imported_and_a_second_run_insert_nothing(
    run_twice, learner, mapped_course, imported_run
):
    mapped = mapped_course()
    run, other_run = _run(mapped, imported_run), _run(mapped, imported_run)
    present, fresh = learner(), learner()
    for person in (present, fresh):
        _graded(person.user, run, 0.8)
    already = MMCourseCertificateFactory(user=present.mm, course=mapped.mm)
    kept = CourseRunCertificateFactory(
        user=present.user, course_run=other_run, uuid=uuid.UUID(already.hash)
    )
    MMCourseCertificateFactory(user=fresh.mm, course=mapped.mm)
    MMCourseCertificateFactory(user=fresh.mm, course=mapped.mm)  # a duplicate

    first, second = run_twice("009")

    assert (first["inserted"], first["already_present"]) == (1, 1)
    assert (second["inserted"], second["already_present"]) == (0, 2)
    assert second["skipped"] == {"superseded": 1}
    assert CourseRunCertificate.all_objects.count() == 2
    kept.refresh_from_db()
    assert kept.course_run == other_run  # left where it was


def test_after_steps_002_and_008_the_certificate_goes_to_the_best_combined_grade(
    run_steps, learner, mapped_course
):
    mapped = mapped_course()
    MMExamRunFactory(course=mapped.mm)
    spring = MMCourseRunFactory(
        course=mapped.mm,
        start_date=datetime(2019, 2, 4, tzinfo=UTC),
        end_date=datetime(2019, 5, 20, tzinfo=UTC),
    )
    fall = MMCourseRunFactory(course=mapped.mm, end_date=datetime(2019, 12, 20, tzinfo=UTC))
    someone = learner()
    MMFinalGradeFactory(user=someone.mm, course_run=spring, grade=0.9)
    MMFinalGradeFactory(user=someone.mm, course_run=fall, grade=0.6)
    MMProctoredExamGradeFactory(user=someone.mm, course=mapped.mm, score=75.0)
    cert = MMCourseCertificateFactory(user=someone.mm, course=mapped.mm)

    reports = run_steps("002", "008", "009")

    imported = CourseRunCertificate.all_objects.select_related("course_run").get()
    assert imported.course_run.courseware_id == spring.edx_course_key
    assert imported.uuid == uuid.UUID(cert.hash)
    assert (reports["002"]["inserted"], reports["008"]["inserted"]) == (2, 2)
    assert reports["009"]["inserted"] == 1
