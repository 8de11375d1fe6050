"""A MicroMasters source with a known mix of learners, for the run-report and explain tests.

The report is only trustworthy if every skip reason is counted where it belongs, so the
tests need a world in which each reason of each step happens a known number of times:
learners who import cleanly, learners without a linked account or whose uid matches nobody,
runs that are discontinued or on another backend, an unmapped course, a course without an
exam, a course without a certificate revision mapping, failed exams, financial aid with
statuses and tiers that are not imported, orders that cannot come over, duplicate
certificates and receipts, and rows already present (or conflicting) in MITx Online.

`build()` makes that world (source rows and target rows) and returns the handles a test
needs; `EXPECTED_FIRST_RUN` is what a full `--all` run over it must report, worked out by
hand from the rules of the steps (see the comments next to each number).
"""

from decimal import Decimal
from types import SimpleNamespace

from courses.factories import (
    CourseFactory,
    CourseRunCertificateFactory,
    CourseRunEnrollmentFactory,
    CourseRunFactory,
    CourseRunGradeFactory,
    PaidCourseRunFactory,
    ProgramCertificateFactory,
    ProgramEnrollmentFactory,
    ProgramFactory,
)
from ecommerce.factories import (
    LineFactory,
    OrderFactory,
    ProductFactory,
    TransactionFactory,
    VersionedProductFactory,
)
from flexiblepricing.factories import FlexiblePriceFactory, FlexiblePriceTierFactory
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ProgramId,
    ProgramTierId,
)
from micromasters_import.source import factories as mm
from users.factories import UserFactory
from wagtailcore.factories import RevisionFactory

PRICE = Decimal("250.00")

# What a first `import_micromasters_data --all` over `build()` reports, step by step.
EXPECTED_FIRST_RUN = {
    "001": {"candidates": 0, "inserted": 0, "already_present": 0, "skipped": {}},
    "002": {
        # a1, b1, d1 and TWIN; a2, a3, d2 exist already; the second TWIN and CLASH collide
        "candidates": 13,
        "inserted": 4,
        "already_present": 3,
        "skipped": {
            "conflict": 2,
            "course_not_mapped": 1,
            "run_discontinued": 1,
            "run_not_on_edxorg": 1,
            "run_without_course_key": 1,
        },
    },
    "003": {
        # L1-L3 in a1 and B1-B2 in b1; L3 is already enrolled in a2
        "candidates": 17,
        "inserted": 5,
        "already_present": 1,
        "skipped": {
            "no_linked_account": 3,
            "run_not_imported": 4,  # E1-E2 (unmapped course), R1-R2 (discontinued, mitxonline)
            "unknown_mitxonline_user": 2,
            "exam_not_passed": 2,  # F1-F2
        },
    },
    "004": {
        # L1-L4; L2's older request is superseded; L5 already has another request
        "candidates": 15,
        "inserted": 4,
        "already_present": 0,
        "skipped": {
            "no_linked_account": 3,
            "status_not_imported": 2,  # S1 skipped, S2 reset
            "unknown_mitxonline_user": 2,
            "conflict": 1,
            "superseded": 1,
            "tier_not_current": 1,  # T1
            "tier_not_mapped": 1,  # T2
        },
    },
    "005": {
        # L1 (two lines), L2, L3, L4 (twice), L5 (refunded); L2's earlier order is there
        "candidates": 18,
        "inserted": 6,
        "already_present": 1,
        "skipped": {
            "no_linked_account": 3,
            "order_status_not_imported": 2,  # O1: created, failed
            "unknown_mitxonline_user": 2,
            "line_product_missing": 1,  # O1: a line for a1, which has no product
            "line_run_not_imported": 1,  # O1: a line for c1, which is not a MITx Online run
            "order_without_lines": 1,
            "order_without_reference_number": 1,
        },
    },
    "006": {
        # two lines of L1's order, one of L2's duplicate pair, L3, L4, L5
        "candidates": 19,
        "inserted": 6,
        "already_present": 1,
        "skipped": {
            "order_not_imported": 10,  # 3 + 2 of N and K, 5 of O1
            "product_version_missing": 1,  # L4's order for a3: its product has no version
            "superseded": 1,  # L2's second line for the same run
        },
    },
    "007": {
        # receipts of L1, L2, L3 (one of two with the same transaction id), L4, L5
        "candidates": 16,
        "inserted": 5,
        "already_present": 1,
        "skipped": {
            "order_not_imported": 6,  # N, K and O1's failed order
            "conflict": 1,  # L4's T-TAKEN belongs to another MITx Online order
            "receipt_without_order": 1,
            "receipt_without_transaction_id": 1,
            "superseded": 1,
        },
    },
    "008": {
        # L1-L5 in a1, B1-B2 in b1; L3's grade in a2 exists already
        "candidates": 21,
        "inserted": 7,
        "already_present": 1,
        "skipped": {
            "run_not_imported": 4,
            "no_linked_account": 3,
            "course_has_no_exam": 2,  # X1-X2
            "exam_not_passed": 2,
            "unknown_mitxonline_user": 2,
        },
    },
    "009": {
        # L1-L5; L1's second certificate is superseded; H1 already holds another
        "candidates": 18,
        "inserted": 5,
        "already_present": 0,
        "skipped": {
            "no_linked_account": 3,
            "course_not_mapped": 2,  # E1-E2
            "revision_not_mapped": 2,  # B1-B2
            "unknown_mitxonline_user": 2,
            "conflict": 1,  # H1
            "invalid_hash": 1,  # V1
            "no_imported_grade": 1,  # W1
            "superseded": 1,
        },
    },
    "010": {
        # both runs of L1's order, L2, L3, L4; L2's earlier order has its paid run already
        "candidates": 19,
        "inserted": 5,
        "already_present": 1,
        "skipped": {
            "order_not_imported": 10,
            "line_not_imported": 1,  # L4's line for a3
            "order_not_fulfilled": 1,  # L5's refunded order
            "superseded": 1,
        },
    },
    "011": {
        # L2-L5; L1 is already enrolled
        "candidates": 12,
        "inserted": 4,
        "already_present": 1,
        "skipped": {
            "no_linked_account": 3,
            "program_not_mapped": 2,  # Q1-Q2
            "unknown_mitxonline_user": 2,
        },
    },
    "012": {
        # L1, L3-L5; L2 already holds another certificate for the program
        "candidates": 13,
        "inserted": 4,
        "already_present": 0,
        "skipped": {
            "no_linked_account": 3,
            "program_not_mapped": 2,
            "unknown_mitxonline_user": 2,
            "conflict": 1,
            "invalid_hash": 1,
        },
    },
    "013": {
        # the five imported certificates; L4 and L5 had no cached enrollment
        "candidates": 5,
        "inserted": 2,
        "already_present": 3,
        "skipped": {},
    },
}

# The post-run checks of that run, in their order: five invariants hold, and the last says how
# many linked learners were found in MITx Online (information, not a fault).
EXPECTED_CHECKS = ["pass", "pass", "pass", "pass", "pass", "info"]

# MicroMasters users with a mitxonline identity, and those of them found in MITx Online.
LINKED_LEARNERS = 27
FOUND_LEARNERS = 25


def _linked(found=True):
    """A MicroMasters user whose mitxonline uid differs from their MicroMasters username."""
    user = mm.MMUserFactory()
    social = mm.MMSocialAuthFactory(user=user, uid=f"mitx-{user.username}")
    target = UserFactory(username=social.uid) if found else None
    return SimpleNamespace(mm=user, social=social, user=target)


def _unlinked(provider=None):
    user = mm.MMUserFactory()
    if provider:
        mm.MMSocialAuthFactory(user=user, provider=provider)
    return SimpleNamespace(mm=user, social=None, user=None)


def _course(program, mapped=True, revision=True, exam=True):
    source = mm.MMCourseFactory(program=program)
    target = None
    if mapped:
        target = CourseFactory(readable_id=f"course-v1:MITxT+{source.course_number}")
        CourseId.objects.create(micromasters_id=source.id, course=target)
        if revision:
            CourseCertificateRevisionId.objects.create(
                course=target, certificate_page_revision=RevisionFactory()
            )
    if exam:
        mm.MMExamRunFactory(course=source)
    return SimpleNamespace(mm=source, course=target)


def _existing_run(source_run, course, **fields):
    """A MITx Online run standing for a MicroMasters run (as an earlier 002 made it)."""
    return CourseRunFactory(
        course=course,
        courseware_id=source_run.edx_course_key,
        run_tag=source_run.edx_course_key.rsplit("+", 1)[-1],
        **fields,
    )


def _order(buyer, runs, status="fulfilled", total=PRICE, receipts=(), **fields):
    order = mm.MMOrderFactory(user=buyer.mm, status=status, total_price_paid=total, **fields)
    for run in runs:
        mm.MMLineFactory(order=order, course_run=run)
    for transaction_id in receipts:
        if transaction_id is None:
            mm.MMReceiptFactory(order=order, data={"decision": "DECLINE"})
        else:
            mm.MMReceiptFactory(order=order, transaction_id=transaction_id)
    return order


def build():
    """Create the known mix in the `micromasters` schema and in MITx Online; return handles."""
    w = SimpleNamespace()

    # -- catalogue ---------------------------------------------------------------------------
    w.prog_p, w.prog_q = mm.MMProgramFactory(), mm.MMProgramFactory()
    w.program = ProgramFactory()
    ProgramId.objects.create(
        micromasters_id=w.prog_p.id,
        program=w.program,
        program_certificate_revision=RevisionFactory(),
    )
    w.a = _course(w.prog_p)  # mapped, revision mapped, has an exam
    w.b = _course(w.prog_p, revision=False)  # no certificate revision mapping
    w.c = _course(w.prog_q, mapped=False)  # not mapped
    w.d = _course(w.prog_p, exam=False)  # no exam runs
    number = w.a.mm.course_number
    run = mm.MMCourseRunFactory
    w.run_a1 = run(course=w.a.mm)
    w.run_a2 = run(course=w.a.mm)
    w.run_a3 = run(course=w.a.mm)
    w.run_d2 = run(course=w.d.mm)
    w.run_disc = run(course=w.a.mm, is_discontinued=True)
    w.run_mitx = run(course=w.a.mm, courseware_backend="mitxonline")
    w.run_nokey = run(course=w.a.mm, edx_course_key=None)
    w.run_clash = run(course=w.a.mm, edx_course_key=f"course-v1:MITx+{number}+CLASH")
    w.run_twin1 = run(course=w.a.mm, edx_course_key=f"course-v1:MITx+{number}+TWIN")
    w.run_twin2 = run(course=w.a.mm, edx_course_key=f"MITx/{number}/TWIN")
    w.run_b1 = run(course=w.b.mm)
    w.run_c1 = run(course=w.c.mm)
    w.run_d1 = run(course=w.d.mm)
    w.a2 = _existing_run(w.run_a2, w.a.course)
    w.a3 = _existing_run(w.run_a3, w.a.course)
    w.d2 = _existing_run(w.run_d2, w.d.course)
    CourseRunFactory(  # holds run tag CLASH in English: the new CLASH run would collide
        course=w.a.course, run_tag="CLASH", language="en", courseware_id="course-v1:Other+CLASH"
    )
    w.product_a2 = VersionedProductFactory(purchasable_object=w.a2, price=PRICE)
    w.product_d2 = VersionedProductFactory(purchasable_object=w.d2, price=PRICE)
    ProductFactory(purchasable_object=w.a3, price=PRICE)  # active, but never versioned

    w.tp_current = mm.MMTierProgramFactory(program=w.prog_p, current=True)
    w.tp_old = mm.MMTierProgramFactory(program=w.prog_p, current=False)
    w.tp_unmapped = mm.MMTierProgramFactory(program=w.prog_p, current=True)
    w.tier = FlexiblePriceTierFactory(courseware_object=w.program)
    old_tier = FlexiblePriceTierFactory(courseware_object=w.program, current=False)
    for source, target in [(w.tp_current, w.tier), (w.tp_old, old_tier)]:
        ProgramTierId.objects.create(
            micromasters_tier_program_id=source.id, flexible_price_tier=target
        )

    # -- learners ----------------------------------------------------------------------------
    w.good = [_linked() for _ in range(5)]  # L1-L5
    w.unlinked = [_unlinked(), _unlinked(), _unlinked(provider="edxorg")]  # N1-N3
    w.unknown = [_linked(found=False) for _ in range(2)]  # K1-K2
    w.unmapped_course = [_linked() for _ in range(2)]  # E1-E2
    w.bad_runs = [_linked() for _ in range(2)]  # R1 (discontinued run), R2 (mitxonline run)
    w.failed_exam = [_linked() for _ in range(2)]  # F1-F2
    w.no_exam = [_linked() for _ in range(2)]  # X1-X2
    w.no_revision = [_linked() for _ in range(2)]  # B1-B2
    w.bad_hash = _linked()  # V1
    w.no_grade = _linked()  # W1
    w.holder = _linked()  # H1
    w.unmapped_program = [_linked() for _ in range(2)]  # Q1-Q2
    w.aid_status = [_linked() for _ in range(2)]  # S1-S2
    w.old_tier, w.unmapped_tier = _linked(), _linked()  # T1, T2
    w.buyer = _linked()  # O1

    # Everyone of L, N and K has a full record in course A and program P.
    w.course_certs = {}
    for person in [*w.good, *w.unlinked, *w.unknown]:
        mm.MMProctoredExamGradeFactory(user=person.mm, course=w.a.mm)
        mm.MMFinalGradeFactory(user=person.mm, course_run=w.run_a1)
        w.course_certs[person.mm.id] = mm.MMCourseCertificateFactory(user=person.mm, course=w.a.mm)
        mm.MMProgramEnrollmentFactory(user=person.mm, program=w.prog_p)
        mm.MMProgramCertificateFactory(user=person.mm, program=w.prog_p)
        mm.MMFinancialAidFactory(user=person.mm, tier_program=w.tp_current)
    for person in [*w.good[:3], *w.unlinked, *w.unknown]:  # L4 and L5 unenrolled later
        mm.MMCachedEnrollmentFactory(user=person.mm, course_run=w.run_a1)
    for person in [*w.unlinked, *w.unknown]:
        _order(person, [w.run_a2], receipts=[f"T-{person.mm.username}"])

    l1, l2, l3, l4, l5 = w.good
    w.l1_duplicate_cert = mm.MMCourseCertificateFactory(
        user=l1.mm, course=w.a.mm, created_on=mm.COURSE_CERTIFIED.replace(year=2021)
    )
    ProgramEnrollmentFactory(user=l1.user, program=w.program)
    w.l1_order = _order(
        l1, [w.run_a2, w.run_d2], total=PRICE * 2, receipts=["T-L1"]
    )  # a multi-line order
    mm.MMFinancialAidFactory(  # an older request for the same program: superseded
        user=l2.mm,
        tier_program=w.tp_current,
        status="created",
        updated_on=mm.PAID.replace(month=8, day=2),
    )
    w.l2_order = _order(l2, [w.run_a2, w.run_a2], receipts=["T-L2"])  # the same run twice
    w.l2_earlier_order = _order(l2, [w.run_a2], receipts=["T-PRE"])
    earlier = OrderFactory(
        purchaser=l2.user,
        state="fulfilled",
        total_price_paid=PRICE,
        reference_number=w.l2_earlier_order.reference_number,
    )
    LineFactory(order=earlier, product=w.product_a2)
    TransactionFactory(order=earlier, transaction_id="T-PRE", amount=PRICE)
    PaidCourseRunFactory(user=l2.user, course_run=w.a2, order=earlier)
    ProgramCertificateFactory(user=l2.user, program=w.program)
    mm.MMCachedEnrollmentFactory(user=l3.mm, course_run=w.run_a2)
    CourseRunEnrollmentFactory(user=l3.user, run=w.a2)
    mm.MMFinalGradeFactory(user=l3.mm, course_run=w.run_a2, grade=0.7)
    CourseRunGradeFactory(user=l3.user, course_run=w.a2, grade=0.5, passed=True)
    w.l3_order = _order(l3, [w.run_a2], receipts=["T-L3", "T-L3", None])
    # T-TAKEN is a second receipt of L4's order whose id another MITx Online order holds
    w.l4_order = _order(l4, [w.run_a2], receipts=["T-L4", "T-TAKEN"])
    TransactionFactory(order=OrderFactory(state="fulfilled"), transaction_id="T-TAKEN")
    w.l4_unversioned_order = _order(l4, [w.run_a3])
    w.l5_order = _order(l5, [w.run_a2], status="refunded", receipts=["T-L5"])
    FlexiblePriceFactory(user=l5.user, courseware_object=w.program, tier=w.tier)

    for person in w.unmapped_course:
        mm.MMProctoredExamGradeFactory(user=person.mm, course=w.c.mm)
        mm.MMCachedEnrollmentFactory(user=person.mm, course_run=w.run_c1)
        mm.MMFinalGradeFactory(user=person.mm, course_run=w.run_c1)
        mm.MMCourseCertificateFactory(user=person.mm, course=w.c.mm)
    for person, source_run in zip(w.bad_runs, [w.run_disc, w.run_mitx], strict=True):
        mm.MMProctoredExamGradeFactory(user=person.mm, course=w.a.mm)
        mm.MMCachedEnrollmentFactory(user=person.mm, course_run=source_run)
        mm.MMFinalGradeFactory(user=person.mm, course_run=source_run)
    for person in w.failed_exam:
        mm.MMProctoredExamGradeFactory(user=person.mm, course=w.a.mm, passed=False, score=40.0)
        mm.MMCachedEnrollmentFactory(user=person.mm, course_run=w.run_a1)
        mm.MMFinalGradeFactory(user=person.mm, course_run=w.run_a1)
    for person in w.no_exam:
        mm.MMFinalGradeFactory(user=person.mm, course_run=w.run_d1)
    w.no_revision_certs = []
    for person in w.no_revision:
        mm.MMProctoredExamGradeFactory(user=person.mm, course=w.b.mm)
        mm.MMCachedEnrollmentFactory(user=person.mm, course_run=w.run_b1)
        mm.MMFinalGradeFactory(user=person.mm, course_run=w.run_b1)
        w.no_revision_certs.append(mm.MMCourseCertificateFactory(user=person.mm, course=w.b.mm))
    mm.MMCourseCertificateFactory(user=w.bad_hash.mm, course=w.a.mm, hash="not-a-certificate-hash")
    mm.MMProgramCertificateFactory(user=w.bad_hash.mm, program=w.prog_p, hash="z" * 32)
    mm.MMCourseCertificateFactory(user=w.no_grade.mm, course=w.a.mm)
    mm.MMCourseCertificateFactory(user=w.holder.mm, course=w.a.mm)
    CourseRunCertificateFactory(user=w.holder.user, course_run=w.a2)
    for person in w.unmapped_program:
        mm.MMProgramEnrollmentFactory(user=person.mm, program=w.prog_q)
        mm.MMProgramCertificateFactory(user=person.mm, program=w.prog_q)
    for person, status in zip(w.aid_status, ["skipped", "reset"], strict=True):
        mm.MMFinancialAidFactory(user=person.mm, tier_program=w.tp_current, status=status)
    mm.MMFinancialAidFactory(user=w.old_tier.mm, tier_program=w.tp_old)
    mm.MMFinancialAidFactory(user=w.unmapped_tier.mm, tier_program=w.tp_unmapped)

    _order(w.buyer, [w.run_a2], status="created")
    _order(w.buyer, [w.run_a2], status="failed", receipts=["T-FAILED"])
    _order(w.buyer, [w.run_a2], reference_number=None)
    _order(w.buyer, [])
    _order(w.buyer, [w.run_c1])
    _order(w.buyer, [w.run_a1])
    mm.MMReceiptFactory(order=None, transaction_id="T-ORPHAN")
    return w
