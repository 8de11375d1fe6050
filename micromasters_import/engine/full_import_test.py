"""The whole import, end to end: a small but complete MicroMasters world through `--all`.

One mapped program with two exam courses, their runs, three linked learners with MITx Online
accounts (and one who never linked), cached enrollments, final and exam grades, course and
program certificates, program enrollments, an approved financial aid request on a current
mapped tier, and a fulfilled order with two lines and a receipt. Step 002 runs first, so that
the runs it creates can be given versioned products, as MITx Online's own runs have; then
`--all` runs every step. The test is transactional: every step really commits on its own, as
it does for an operator, and the staged copies must survive between those transactions.
"""

import uuid
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from courses.factories import CourseFactory, ProgramFactory
from courses.models import (
    CourseRun,
    CourseRunCertificate,
    CourseRunEnrollment,
    CourseRunGrade,
    PaidCourseRun,
    ProgramCertificate,
    ProgramEnrollment,
)
from ecommerce.factories import VersionedProductFactory, latest_product_version
from ecommerce.models import Line, Order, Transaction
from flexiblepricing.factories import FlexiblePriceTierFactory
from flexiblepricing.models import FlexiblePrice
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportBatch,
    ImportRun,
    ProgramId,
    ProgramTierId,
)
from micromasters_import.source import factories as mm
from micromasters_import.testing.target import target_counts as counts
from users.factories import UserFactory
from wagtailcore.factories import RevisionFactory

pytestmark = pytest.mark.django_db(transaction=True)

ALL_NUMS = [f"{n:03d}" for n in range(1, 14)]

# What each step inserts from the world below, once 002 has already brought the runs over.
EXPECTED = {
    "001": 0,  # checks the mount, writes nothing
    "002": 0,  # the two runs came over in the first, 002-only, run
    "003": 3,  # alice a, alice b, bob a (carol has no cached enrollment)
    "004": 1,  # alice's approved request
    "005": 1,  # alice's fulfilled order
    "006": 2,  # its two lines
    "007": 1,  # its receipt
    "008": 4,  # alice a, alice b, bob a, carol b
    "009": 4,  # one certificate per graded (learner, course)
    "010": 2,  # alice paid for both runs
    "011": 3,  # alice, bob, carol (dave never linked his account)
    "012": 1,  # alice's program certificate
    "013": 1,  # carol's certificate has no enrollment behind it
}


def run(*args):
    out = StringIO()
    call_command(
        "import_micromasters_data", *args, "--noinput", stdout=out, stderr=StringIO(), no_color=True
    )
    return out.getvalue()


def latest_batch_rows():
    """{step: ImportRun} of the latest command run."""
    batch = ImportBatch.objects.order_by("-id").first()
    return {row.step: row for row in ImportRun.objects.filter(batch=batch.batch)}, batch


def inserted(rows):
    return {num: row.rows_inserted for num, row in sorted(rows.items())}


@pytest.fixture
def world(mm_transactional):
    """The MicroMasters world and its MITx Online mappings and accounts."""
    w = SimpleNamespace()

    # The program, mapped, with its certificate page revision.
    w.mm_program = mm.MMProgramFactory(title="Data, Economics, and Development Policy")
    w.program = ProgramFactory(readable_id="program-v1:MITx+DEDP")
    w.program_revision = RevisionFactory()
    ProgramId.objects.create(
        micromasters_id=w.mm_program.id,
        program=w.program,
        program_certificate_revision=w.program_revision,
    )

    # Two courses of the program, mapped, each with an exam and one edxorg run.
    w.courses = {}
    for letter, number in [("a", "14.100x"), ("b", "14.310x")]:
        mm_course = mm.MMCourseFactory(program=w.mm_program, course_number=number)
        course = CourseFactory(readable_id=f"course-v1:MITxT+{number}")
        CourseId.objects.create(micromasters_id=mm_course.id, course=course)
        revision = RevisionFactory()
        CourseCertificateRevisionId.objects.create(
            course=course, certificate_page_revision=revision
        )
        mm.MMExamRunFactory(course=mm_course)
        mm_run = mm.MMCourseRunFactory(
            course=mm_course, edx_course_key=f"course-v1:MITx+{number}+3T2019"
        )
        w.courses[letter] = SimpleNamespace(
            mm=mm_course, course=course, revision=revision, mm_run=mm_run
        )
    # A discontinued run never comes over.
    mm.MMCourseRunFactory(
        course=w.courses["a"].mm,
        edx_course_key="course-v1:MITx+14.100x+1T2018",
        is_discontinued=True,
    )

    # Learners: three linked to MITx Online accounts, one who never linked.
    w.learners = {}
    for name in ["alice", "bob", "carol"]:
        mm_user = mm.linked_learner(f"{name}_mm", uid=f"{name}_mitx")
        w.learners[name] = SimpleNamespace(mm=mm_user, user=UserFactory(username=f"{name}_mitx"))
    dave = mm.MMUserFactory(username="dave_mm")

    a, b = w.courses["a"], w.courses["b"]
    alice, bob, carol = (w.learners[name] for name in ["alice", "bob", "carol"])

    # Cached enrollments (carol's was dropped when she unenrolled).
    mm.MMCachedEnrollmentFactory(user=alice.mm, course_run=a.mm_run, mode="verified")
    mm.MMCachedEnrollmentFactory(user=alice.mm, course_run=b.mm_run, mode="verified")
    mm.MMCachedEnrollmentFactory(user=bob.mm, course_run=a.mm_run, mode="audit")

    # Passed exams and final grades: combined = grade * 100 * 0.4 + score * 0.6.
    for who, course, score, grade in [
        (alice, a, 90.0, 0.9),  # 36 + 54 = 90 -> 0.9 A
        (alice, b, 70.0, 0.8),  # 32 + 42 = 74 -> 0.74 B
        (bob, a, 80.0, 0.7),  # 28 + 48 = 76 -> 0.76 B
        (carol, b, 85.0, 0.95),  # 38 + 51 = 89 -> 0.89 A
    ]:
        mm.MMProctoredExamGradeFactory(user=who.mm, course=course.mm, score=score)
        mm.MMFinalGradeFactory(user=who.mm, course_run=course.mm_run, grade=grade)

    # Course certificates, and alice's program certificate.
    w.course_certificates = {
        (who_name, letter): mm.MMCourseCertificateFactory(
            user=w.learners[who_name].mm, course=w.courses[letter].mm
        )
        for who_name, letter in [("alice", "a"), ("alice", "b"), ("bob", "a"), ("carol", "b")]
    }
    w.program_certificate = mm.MMProgramCertificateFactory(user=alice.mm, program=w.mm_program)

    # Program enrollments.
    for who in [alice.mm, bob.mm, carol.mm, dave]:
        mm.MMProgramEnrollmentFactory(user=who, program=w.mm_program)

    # A current tier of the program, mapped, and alice's approved request.
    tier_program = mm.MMTierProgramFactory(program=w.mm_program, current=True)
    w.tier = FlexiblePriceTierFactory(courseware_object=w.program)
    ProgramTierId.objects.create(
        micromasters_tier_program_id=tier_program.id, flexible_price_tier=w.tier
    )
    w.aid = mm.MMFinancialAidFactory(
        user=alice.mm, tier_program=tier_program, status="approved", income_usd=8500.0
    )

    # Alice's fulfilled order: a seat in each run, one receipt.
    w.order = mm.MMOrderFactory(
        user=alice.mm, status="fulfilled", total_price_paid=Decimal("500.00")
    )
    w.lines = [
        mm.MMLineFactory(order=w.order, course_run=course.mm_run, price=Decimal("250.00"))
        for course in (a, b)
    ]
    w.receipt = mm.MMReceiptFactory(order=w.order, transaction_id="5678000000000000000001")
    return w


def give_the_runs_products(w):
    """Step 002 has made the runs; MITx Online sells each through a versioned product."""
    w.products = {}
    for letter, course in w.courses.items():
        course.run = CourseRun.all_objects.get(courseware_id=course.mm_run.edx_course_key)
        w.products[letter] = VersionedProductFactory(
            purchasable_object=course.run, price=Decimal("250.00")
        )


def test_the_whole_import_then_a_rerun_that_inserts_nothing(world):
    first = run("--num", "002")
    assert "Applying 002_course_runs... OK (2 inserted, 1 skipped;" in first
    give_the_runs_products(world)
    before = counts()

    # A dry run says what the real run will insert, and leaves MITx Online as it was.
    run("--all", "--dry-run")
    rows, batch = latest_batch_rows()
    assert batch.dry_run is True
    assert {row.status for row in rows.values()} == {ImportRun.DRY_RUN}
    assert inserted(rows) == EXPECTED
    assert counts() == before

    # The real run.
    out = run("--all")
    rows, batch = latest_batch_rows()
    assert {num: row.status for num, row in rows.items()} == dict.fromkeys(ALL_NUMS, "done")
    assert inserted(rows) == EXPECTED
    # 002 ran before and nothing it reads changed since: it is skipped as unchanged.
    assert "Applying 002_course_runs... unchanged" in out
    for num, row in rows.items():
        if num != "002":
            assert f"Applying {num}_{row.name}... OK ({EXPECTED[num]} inserted" in out
    assert f"Done: 13 step(s), {sum(EXPECTED.values())} row(s) inserted." in out
    full = counts()
    assert full == {
        "runs": 2,
        "enrollments": 4,
        "grades": 4,
        "certificates": 4,
        "program enrollments": 3,
        "program certificates": 1,
        "financial aid": 1,
        "orders": 1,
        "lines": 2,
        "transactions": 1,
        "paid runs": 2,
    }
    assert [check["status"] for check in batch.invariants if check["status"] == "fail"] == []
    assert rows["011"].report["skipped"] == {"no_linked_account": 1}
    assert rows["013"].report["already_present"] == 3
    spot_check_values(world)

    # Running everything again inserts nothing, and says each row is already there.
    again = run("--all")
    rows, again_batch = latest_batch_rows()
    # Nothing the post-run checks read changed either: their results are carried over.
    assert [check["status"] for check in again_batch.invariants] == [
        check["status"] for check in batch.invariants
    ]
    assert all("(unchanged since run" in check["detail"] for check in again_batch.invariants)
    assert inserted(rows) == dict.fromkeys(ALL_NUMS, 0)
    assert {row.status for row in rows.values()} == {ImportRun.DONE}
    for num in ALL_NUMS[1:]:
        assert rows[num].report["already_present"] >= EXPECTED[num], num
    assert "Done: 13 step(s), 0 row(s) inserted." in again
    assert counts() == full
    # Nothing changed, so every step but the mount check is skipped without reading the source
    # again, and reports what its last run found.
    for num, row in rows.items():
        if num != "001":
            assert f"Applying {num}_{row.name}... unchanged" in again
            assert row.report["unchanged_since"]
    # --recheck re-reads everything, and finds the same.
    rechecked = run("--all", "--recheck")
    rechecked_rows, _ = latest_batch_rows()
    assert inserted(rechecked_rows) == dict.fromkeys(ALL_NUMS, 0)
    assert "unchanged" not in rechecked
    counted = ("candidates", "inserted", "already_present", "skipped")
    for num in ALL_NUMS[1:]:
        carried = {key: rows[num].report[key] for key in counted}
        assert {key: rechecked_rows[num].report[key] for key in counted} == carried, num
    assert counts() == full

    # So does a dry run now, and it still changes nothing.
    run("--all", "--dry-run")
    rows, _ = latest_batch_rows()
    assert inserted(rows) == dict.fromkeys(ALL_NUMS, 0)
    assert {row.status for row in rows.values()} == {ImportRun.DRY_RUN}
    assert counts() == full

    # --list shows every step done, with all that its runs inserted: the latest real run is
    # the rerun, which inserted nothing, but the rows did come from the import.
    listing = run("--list")
    imported = {**EXPECTED, "002": 2}  # 002's runs came in the first, 002-only, run
    for num in ALL_NUMS:
        (line,) = [line for line in listing.splitlines() if line.strip().startswith(f"{num}_")]
        assert " done " in line, line
        assert f", {imported[num]} row(s) imported in total" in line, line


def spot_check_values(w):
    a, b = w.courses["a"], w.courses["b"]
    alice, bob, carol = (w.learners[name] for name in ["alice", "bob", "carol"])

    assert a.run.course == a.course
    assert (a.run.run_tag, a.run.live) == ("3T2019", True)

    enrollment = CourseRunEnrollment.all_objects.get(user=alice.user, run=a.run)
    assert (enrollment.active, enrollment.enrollment_mode) == (True, "verified")
    assert CourseRunEnrollment.all_objects.get(user=bob.user, run=a.run).enrollment_mode == "audit"
    behind_certificate = CourseRunEnrollment.all_objects.get(user=carol.user, run=b.run)
    assert behind_certificate.enrollment_mode == "verified"
    assert behind_certificate.created_on == w.course_certificates[("carol", "b")].created_on

    grades = {
        (g.user.username, g.course_run_id): (round(g.grade, 3), g.letter_grade, g.passed)
        for g in CourseRunGrade.objects.select_related("user")
    }
    assert grades == {
        ("alice_mitx", a.run.id): (0.9, "A", True),
        ("alice_mitx", b.run.id): (0.74, "B", True),
        ("bob_mitx", a.run.id): (0.76, "B", True),
        ("carol_mitx", b.run.id): (0.89, "A", True),
    }

    source = w.course_certificates[("alice", "b")]
    certificate = CourseRunCertificate.all_objects.get(uuid=uuid.UUID(source.hash))
    assert (certificate.user, certificate.course_run) == (alice.user, b.run)
    assert certificate.certificate_page_revision == b.revision
    assert certificate.issue_date == source.created_on
    assert certificate.is_revoked is False

    program_certificate = ProgramCertificate.all_objects.get()
    assert program_certificate.uuid == uuid.UUID(w.program_certificate.hash)
    assert (program_certificate.user, program_certificate.program) == (alice.user, w.program)
    assert program_certificate.certificate_page_revision == w.program_revision

    assert set(ProgramEnrollment.all_objects.values_list("user__username", "enrollment_mode")) == {
        ("alice_mitx", "audit"),
        ("bob_mitx", "audit"),
        ("carol_mitx", "audit"),
    }

    aid = FlexiblePrice.objects.get()
    assert (aid.user, aid.tier, aid.status) == (alice.user, w.tier, "approved")
    assert aid.income_usd == 8500.0
    assert aid.courseware_content_type == ContentType.objects.get_for_model(w.program)
    assert aid.courseware_object_id == w.program.id

    order = Order.objects.get()
    assert order.reference_number == w.order.reference_number
    assert (order.purchaser, order.state) == (alice.user, "fulfilled")
    assert order.total_price_paid == Decimal("500.00")
    lines = {line.purchased_object_id: line for line in Line.objects.filter(order=order)}
    assert set(lines) == {a.run.id, b.run.id}
    for letter, course in w.courses.items():
        line = lines[course.run.id]
        assert line.product_version == latest_product_version(w.products[letter])
        assert line.quantity == 1
        assert line.purchased_content_type == ContentType.objects.get_for_model(CourseRun)

    transaction = Transaction.objects.get()
    assert (transaction.order, transaction.transaction_id) == (order, "5678000000000000000001")
    assert (transaction.transaction_type, transaction.amount) == ("payment", Decimal("500.00"))
    assert transaction.data == w.receipt.data

    assert set(PaidCourseRun.objects.values_list("user_id", "course_run_id", "order_id")) == {
        (alice.user.id, a.run.id, order.id),
        (alice.user.id, b.run.id, order.id),
    }
