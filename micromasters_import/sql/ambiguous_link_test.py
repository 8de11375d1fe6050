"""Identity is one-to-one or nothing: an ambiguous mitxonline link imports nothing, anywhere.

Found by probing with hostile data: when two MicroMasters users carried the same `mitxonline`
uid (the source's UNIQUE (provider, uid) dropped or bypassed), every enrollment, grade, course
and program certificate of the second landed on the first's MITx Online account, reported
only as an unnamed conflict. The same ambiguity arises when one MicroMasters user has two
`mitxonline` uids, or when a uid matches two MITx Online usernames. These tests give the
learners a whole record, touched by every step, and check what lands on each account.
"""

import uuid
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection

from courses.factories import CourseRunCertificateFactory, ProgramCertificateFactory
from courses.models import (
    CourseRunCertificate,
    CourseRunEnrollment,
    CourseRunGrade,
    PaidCourseRun,
    ProgramCertificate,
    ProgramEnrollment,
)
from ecommerce.models import Line, Order, Transaction
from flexiblepricing.factories import FlexiblePriceTierFactory
from flexiblepricing.models import FlexiblePrice
from micromasters_import.engine import invariants
from micromasters_import.models import ImportBatch, ProgramTierId
from micromasters_import.source import factories as source
from micromasters_import.source.factories import SCHEMA
from users.factories import UserFactory

AMBIGUOUS = "ambiguous_mitxonline_link"
ONE_LEARNER = "no MITx Online user holds the rows of two MicroMasters users"
# Every step that reads learners' rows, and so must name an ambiguous learner's rows.
LEARNER_STEPS = ["003", "004", "005", "006", "007", "008", "009", "010", "011", "012", "013"]


@pytest.fixture
def world(mm, mapped_course, mapped_program, sellable_run):
    """A mapped program with an exam course, a sellable run and a current mapped tier."""
    program = mapped_program()
    course = mapped_course(program=program.mm)
    source.MMExamRunFactory(course=course.mm)
    sellable = sellable_run(course)
    tier_program = source.MMTierProgramFactory(program=program.mm, current=True)
    tier = FlexiblePriceTierFactory(courseware_object=program.program)
    ProgramTierId.objects.create(
        micromasters_tier_program_id=tier_program.id, flexible_price_tier=tier
    )
    return SimpleNamespace(
        program=program, course=course, sellable=sellable, tier_program=tier_program
    )


def full_record(world, mm_user):
    """Rows of one MicroMasters user that every learner step (003-013) reads; their ids."""
    order = source.MMOrderFactory(user=mm_user, total_price_paid=Decimal("250.00"))
    rows = SimpleNamespace(
        exam=source.MMProctoredExamGradeFactory(user=mm_user, course=world.course.mm, score=90.0),
        enrollment=source.MMCachedEnrollmentFactory(user=mm_user, course_run=world.sellable.mm),
        grade=source.MMFinalGradeFactory(user=mm_user, course_run=world.sellable.mm, grade=0.9),
        course_cert=source.MMCourseCertificateFactory(user=mm_user, course=world.course.mm),
        program_enrollment=source.MMProgramEnrollmentFactory(
            user=mm_user, program=world.program.mm
        ),
        program_cert=source.MMProgramCertificateFactory(user=mm_user, program=world.program.mm),
        aid=source.MMFinancialAidFactory(user=mm_user, tier_program=world.tier_program),
        order=order,
        line=source.MMLineFactory(order=order, course_run=world.sellable.mm),
        receipt=source.MMReceiptFactory(order=order),
    )
    return rows


def ids_per_step(*records):
    """The source ids each learner step reports for these learners' rows."""
    pick = {
        "003": "enrollment",
        "004": "aid",
        "005": "order",
        "006": "line",
        "007": "receipt",
        "008": "grade",
        "009": "course_cert",
        "010": "line",
        "011": "program_enrollment",
        "012": "program_cert",
    }
    return {step: sorted(getattr(r, field).id for r in records) for step, field in pick.items()}


def rows_of(user=None):
    """Everything the import can give one MITx Online account (or all of them)."""
    if user is None:
        mine = {}
        bought = {}
    else:
        mine = {"user": user}
        bought = {"order__purchaser": user}
    return {
        "enrollments": CourseRunEnrollment.all_objects.filter(**mine).count(),
        "grades": CourseRunGrade.objects.filter(**mine).count(),
        "certificates": CourseRunCertificate.all_objects.filter(**mine).count(),
        "program enrollments": ProgramEnrollment.all_objects.filter(**mine).count(),
        "program certificates": ProgramCertificate.all_objects.filter(**mine).count(),
        "financial aid": FlexiblePrice.objects.filter(**mine).count(),
        "orders": Order.objects.filter(**({"purchaser": user} if user else {})).count(),
        "lines": Line.objects.filter(**bought).count(),
        "transactions": Transaction.objects.filter(**bought).count(),
        "paid runs": PaidCourseRun.objects.filter(**mine).count(),
    }


NOTHING = dict.fromkeys(
    [
        "enrollments",
        "grades",
        "certificates",
        "program enrollments",
        "program certificates",
        "financial aid",
        "orders",
        "lines",
        "transactions",
        "paid runs",
    ],
    0,
)
EVERYTHING = dict.fromkeys(NOTHING, 1)


def checks():
    batch = ImportBatch.objects.order_by("-id").first()
    return {check["name"]: check for check in batch.invariants}


def assert_adds_up(reports):
    for step in LEARNER_STEPS:
        report = reports[step]
        assert report["candidates"] == (
            report["inserted"] + report["already_present"] + sum(report["skipped"].values())
        ), step


def test_two_micromasters_users_with_one_uid_import_nothing_on_either_account(
    world, run_steps, learner, drop_unique
):
    # The issue, exactly: B carries A's mitxonline uid; A's account used to get B's record.
    drop_unique(SCHEMA, "social_auth_usersocialauth", "provider", "uid")
    first = learner("jdoe")  # MicroMasters user A, linked to MITx Online account "jdoe"
    second_mm = source.MMUserFactory(username="jdoe2")
    source.MMSocialAuthFactory(user=second_mm, uid="jdoe")  # B claims the same uid
    second_account = UserFactory(username="jdoe2")  # B's own MITx Online account, unlinked
    clean = learner()  # someone whose link is fine, with the same record
    records = {
        "first": full_record(world, first.mm),
        "second": full_record(world, second_mm),
        "clean": full_record(world, clean.mm),
    }

    reports = run_steps("003-013")

    # Neither account gets the other's rows, nor (the link being ambiguous) its own.
    assert rows_of(first.user) == NOTHING
    assert rows_of(second_account) == NOTHING
    assert rows_of(clean.user) == EVERYTHING
    assert rows_of() == EVERYTHING  # the clean learner's rows are all that landed anywhere
    expected_ids = ids_per_step(records["first"], records["second"])
    for step, ids in expected_ids.items():
        assert reports[step]["skipped"] == {AMBIGUOUS: 2}, step
        assert reports[step]["samples"][AMBIGUOUS] == ids, step
        assert reports[step]["inserted"] == 1, step
    # 013 reads the certificates in MITx Online: neither learner's came over.
    assert reports["013"]["candidates"] == 1
    assert_adds_up(reports)
    assert checks()[ONE_LEARNER]["status"] == "pass"
    assert (
        "2 with an ambiguous link"
        in checks()["linked MicroMasters users found in MITx Online"]["detail"]
    )

    # A second run inserts nothing and says the same.
    again = run_steps("003-013")
    for step in LEARNER_STEPS:
        assert again[step]["inserted"] == 0, step
    assert again["003"]["skipped"] == {AMBIGUOUS: 2}
    assert rows_of(first.user) == NOTHING


def test_one_micromasters_user_with_two_uids_imports_nothing(world, run_steps, learner):
    someone = learner("asmith")
    source.MMSocialAuthFactory(user=someone.mm, uid="asmith-other")  # a second mitxonline row
    other_account = UserFactory(username="asmith-other")
    record = full_record(world, someone.mm)

    reports = run_steps("003-013")

    assert rows_of(someone.user) == NOTHING
    assert rows_of(other_account) == NOTHING
    for step, ids in ids_per_step(record).items():
        assert reports[step]["skipped"] == {AMBIGUOUS: 1}, step
        assert reports[step]["samples"][AMBIGUOUS] == ids, step
    assert_adds_up(reports)


def test_a_uid_matching_two_mitxonline_usernames_imports_nothing(
    world, run_steps, learner, drop_unique
):
    # With MITx Online's unique username gone, one uid matches two accounts.
    drop_unique("public", "users_user", "username")
    someone = learner("twice")
    twin = UserFactory(username="twice", email="twin@example.com")
    record = full_record(world, someone.mm)

    reports = run_steps("003", "008", "011")

    assert rows_of(someone.user) == NOTHING
    assert rows_of(twin) == NOTHING
    ids = ids_per_step(record)
    for step in ["003", "008", "011"]:
        assert reports[step]["skipped"] == {AMBIGUOUS: 1}, step
        assert reports[step]["samples"][AMBIGUOUS] == ids[step], step


def test_rows_of_two_learners_already_on_one_account_fail_the_check(world, run_steps, learner):
    # What an earlier run (before this rule) left behind: B's certificate on A's account.
    first, second = learner(), learner()
    first_cert = source.MMCourseCertificateFactory(user=first.mm, course=world.course.mm)
    second_cert = source.MMProgramCertificateFactory(user=second.mm, program=world.program.mm)
    CourseRunCertificateFactory(
        user=first.user, course_run=world.sellable.run, uuid=uuid.UUID(first_cert.hash)
    )
    ProgramCertificateFactory(
        user=first.user, program=world.program.program, uuid=uuid.UUID(second_cert.hash)
    )

    reports = run_steps("009", "012")

    check = checks()[ONE_LEARNER]
    assert check["status"] == "fail"
    assert check["detail"] == "1 MITx Online user(s) hold rows of several MicroMasters users"
    assert check["sample"] == [first.user.id]
    assert reports["012"]["skipped"] == {"conflict": 1}  # nothing more was added


def test_the_check_fails_when_the_identity_map_gives_one_account_to_two_learners(db):
    account = UserFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE mm_learner AS SELECT * FROM (VALUES "
            f"(7, 'x', {account.id}, false), (8, 'x', {account.id}, false), (9, 'y', NULL, true)"
            ") AS l (mm_user_id, uid, user_id, ambiguous)"
        )
        check = invariants.one_learner_per_account(cursor)
        cursor.execute("DROP TABLE mm_learner")

    assert (check.status, check.sample) == ("fail", [account.id])


def test_explaining_a_learner_whose_uid_another_shares_names_the_ambiguity(
    world, learner, drop_unique
):
    drop_unique(SCHEMA, "social_auth_usersocialauth", "provider", "uid")
    first = learner("shared")
    second_mm = source.MMUserFactory()
    source.MMSocialAuthFactory(user=second_mm, uid="shared")
    record = full_record(world, first.mm)
    out = StringIO()

    call_command("micromasters_import_report", explain_user=str(first.mm.id), stdout=out)

    text = out.getvalue()
    assert (
        f"dashboard_cachedenrollment {record.enrollment.id}: mitxonline link is ambiguous" in text
    )
    assert f"grades_finalgrade {record.grade.id}: mitxonline link is ambiguous" in text
    assert "would be inserted" not in text
