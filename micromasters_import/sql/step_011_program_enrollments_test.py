"""Step 011: MicroMasters program enrollments of mapped programs become audit enrollments."""

from datetime import timedelta

from mitol.common.utils.datetime import now_in_utc

from courses.factories import ProgramEnrollmentFactory
from courses.models import ProgramCertificate, ProgramEnrollment
from micromasters_import.source.factories import (
    MMProgramCertificateFactory,
    MMProgramEnrollmentFactory,
    MMProgramFactory,
)
from micromasters_import.testing.reports import assert_only_skipped


def test_imports_the_enrollment_of_a_mapped_program_with_every_value(
    run_step, learner, mapped_program
):
    mapped = mapped_program()
    someone = learner()
    MMProgramEnrollmentFactory(user=someone.mm, program=mapped.mm)

    report = run_step("011")

    enrollment = ProgramEnrollment.all_objects.get()
    assert enrollment.user == someone.user
    assert enrollment.program == mapped.program
    assert enrollment.active is True
    assert enrollment.enrollment_mode == "audit"
    assert enrollment.change_status is None
    # MicroMasters keeps no enrollment date: the time of the import, as the ORM writes it
    # (now() is the start of the test's transaction here, so only "recent" can be checked).
    assert now_in_utc() - enrollment.created_on < timedelta(minutes=5)
    assert enrollment.updated_on == enrollment.created_on
    assert (report["candidates"], report["inserted"]) == (1, 1)
    assert report["skipped"] == {}


def test_skips_enrollments_that_cannot_come_over_and_says_why(
    run_step, learner, mapped_program, unlinkable
):
    mapped = mapped_program()
    unmapped_program = MMProgramFactory()
    someone = learner()
    unmapped = MMProgramEnrollmentFactory(user=someone.mm, program=unmapped_program)
    for mm_user in unlinkable:
        MMProgramEnrollmentFactory(user=mm_user, program=mapped.mm)

    report = run_step("011")

    assert_only_skipped(
        report,
        ProgramEnrollment,
        no_linked_account=2,
        program_not_mapped=1,
        unknown_mitxonline_user=1,
    )
    assert report["samples"]["program_not_mapped"] == [unmapped.id]


def test_an_existing_enrollment_is_kept_and_a_second_run_inserts_nothing(
    run_twice, learner, mapped_program
):
    mapped = mapped_program()
    people = [learner() for _ in range(3)]
    for person in people:
        MMProgramEnrollmentFactory(user=person.mm, program=mapped.mm)
    existing = ProgramEnrollmentFactory(
        user=people[0].user, program=mapped.program, inactive=True, enrollment_mode="verified"
    )

    first, second = run_twice("011")

    assert (first["inserted"], first["already_present"]) == (2, 1)
    assert (second["inserted"], second["already_present"]) == (0, 3)
    assert second["skipped"] == {}
    kept = ProgramEnrollment.all_objects.get(user=people[0].user)
    assert (kept.id, kept.active, kept.change_status, kept.enrollment_mode) == (
        existing.id,
        False,
        "unenrolled",
        "verified",
    )
    assert ProgramEnrollment.all_objects.count() == 3


def test_enrollments_and_certificates_of_a_program_in_one_run(run_steps, learner, mapped_program):
    mapped = mapped_program()
    enrolled, certified = learner(), learner()
    for person in (enrolled, certified):
        MMProgramEnrollmentFactory(user=person.mm, program=mapped.mm)
    MMProgramCertificateFactory(user=certified.mm, program=mapped.mm)

    reports = run_steps("011", "012")

    assert set(ProgramEnrollment.all_objects.values_list("user_id", "program_id")) == {
        (enrolled.user.id, mapped.program.id),
        (certified.user.id, mapped.program.id),
    }
    assert ProgramCertificate.all_objects.get().user == certified.user
    assert (reports["011"]["inserted"], reports["012"]["inserted"]) == (2, 1)
