"""Step 012: MicroMasters program certificates of mapped programs, with their own uuid."""

import uuid
from datetime import UTC, datetime

from courses.factories import ProgramCertificateFactory
from courses.models import ProgramCertificate
from micromasters_import.source.factories import (
    MMProgramCertificateFactory,
    MMProgramFactory,
)
from micromasters_import.testing.reports import assert_only_skipped

CERTIFIED = datetime(2020, 6, 1, 10, 0, tzinfo=UTC)
TOUCHED = datetime(2021, 3, 4, 5, 6, tzinfo=UTC)


def test_imports_a_program_certificate_with_every_value(run_step, learner, mapped_program):
    mapped = mapped_program()
    someone = learner()
    MMProgramCertificateFactory(
        user=someone.mm,
        program=mapped.mm,
        hash="ABCDEF0123456789abcdef0123456789",
        created_on=CERTIFIED,
        updated_on=TOUCHED,
    )

    report = run_step("012")

    cert = ProgramCertificate.all_objects.get()
    assert cert.user == someone.user
    assert cert.program == mapped.program
    assert cert.uuid == uuid.UUID("abcdef01-2345-6789-abcd-ef0123456789")
    assert cert.issue_date == CERTIFIED
    assert (cert.created_on, cert.updated_on) == (CERTIFIED, TOUCHED)
    assert cert.certificate_page_revision == mapped.mapping.program_certificate_revision
    assert cert.certificate_page_revision is not None
    assert cert.is_revoked is False
    assert cert.verifiable_credential is None
    assert (report["candidates"], report["inserted"]) == (1, 1)
    assert report["skipped"] == {}


def test_skips_certificates_that_cannot_come_over_and_says_why(
    run_step, learner, mapped_program, unlinkable
):
    mapped = mapped_program()
    someone = learner()
    unmapped = MMProgramCertificateFactory(user=someone.mm, program=MMProgramFactory())
    bad_hashes = [
        MMProgramCertificateFactory(user=learner().mm, program=mapped.mm, hash=text)
        for text in ["not-a-certificate-hash", "g" * 32, "a" * 31]
    ]
    for mm_user in unlinkable:
        MMProgramCertificateFactory(user=mm_user, program=mapped.mm)

    report = run_step("012")

    assert_only_skipped(
        report,
        ProgramCertificate,
        invalid_hash=3,
        no_linked_account=2,
        program_not_mapped=1,
        unknown_mitxonline_user=1,
    )
    assert report["samples"]["program_not_mapped"] == [unmapped.id]
    assert report["samples"]["invalid_hash"] == [cert.id for cert in bad_hashes]


def test_an_existing_different_certificate_or_a_taken_uuid_is_a_conflict(
    run_step, learner, mapped_program
):
    mapped = mapped_program()
    holder, clash = learner(), learner()
    existing = ProgramCertificateFactory(user=holder.user, program=mapped.program)
    holder_cert = MMProgramCertificateFactory(user=holder.mm, program=mapped.mm)
    taken = MMProgramCertificateFactory(user=clash.mm, program=mapped.mm)
    other_program = ProgramCertificateFactory(uuid=uuid.UUID(taken.hash))

    report = run_step("012")

    assert set(ProgramCertificate.all_objects.values_list("id", "user_id", "uuid")) == {
        (existing.id, holder.user.id, existing.uuid),
        (other_program.id, other_program.user_id, uuid.UUID(taken.hash)),
    }
    assert report["inserted"] == 0
    assert report["skipped"] == {"conflict": 2}
    assert report["samples"]["conflict"] == [holder_cert.id, taken.id]


def test_a_certificate_already_there_is_kept_and_a_second_run_inserts_nothing(
    run_twice, learner, mapped_program
):
    mapped = mapped_program()
    present, fresh = learner(), learner()
    already = MMProgramCertificateFactory(user=present.mm, program=mapped.mm)
    kept = ProgramCertificateFactory(
        user=present.user, program=mapped.program, uuid=uuid.UUID(already.hash), revoked=True
    )
    MMProgramCertificateFactory(user=fresh.mm, program=mapped.mm)

    first, second = run_twice("012")

    assert (first["inserted"], first["already_present"]) == (1, 1)
    assert (second["inserted"], second["already_present"]) == (0, 2)
    assert second["skipped"] == {}
    assert ProgramCertificate.all_objects.count() == 2
    kept.refresh_from_db()
    assert kept.is_revoked is True  # left as it was
