"""Post-run invariants: pass after a clean import, fail (with counts and ids) on broken rows."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from courses.factories import (
    CourseRunCertificateFactory,
    CourseRunFactory,
    CourseRunGradeFactory,
)
from courses.models import CourseRunCertificate, CourseRunEnrollment
from ecommerce.factories import OrderFactory, TransactionFactory
from ecommerce.models import Order, Transaction
from micromasters_import.engine import invariants, report
from micromasters_import.models import ImportBatch
from micromasters_import.source import factories as mm_factories
from micromasters_import.testing import report_scenario
from users.factories import UserFactory

CERTIFICATES = "every imported certificate has an enrollment"
GRADES = "every imported grade's run exists"
ONE_CERTIFICATE = "no user has two certificates for one course"
MONEY = "imported order totals equal payments minus refunds"
ONE_LEARNER = "no MITx Online user holds the rows of two MicroMasters users"
LINKED = "linked MicroMasters users found in MITx Online"


def run_import(*nums, **options):
    """Run the import (`--all` unless step numbers are given); return (checks, output)."""
    out = StringIO()
    selection = {"num": list(nums)} if nums else {"all": True}
    call_command(
        "import_micromasters_data",
        interactive=False,
        stdout=out,
        stderr=StringIO(),
        **selection,
        **options,
    )
    batch = ImportBatch.objects.order_by("-id").first()
    return {check["name"]: check for check in batch.invariants}, out.getvalue()


@pytest.fixture
def world(mm):
    return report_scenario.build()


@pytest.fixture
def imported(world):
    """The known mix, imported once by a clean `--all` run."""
    run_import()
    return world


def test_after_a_clean_full_run_every_check_passes_or_informs(world):
    checks, output = run_import()

    assert [(check["name"], check["status"]) for check in checks.values()] == [
        (CERTIFICATES, "pass"),
        (GRADES, "pass"),
        (ONE_CERTIFICATE, "pass"),
        (MONEY, "pass"),
        (ONE_LEARNER, "pass"),
        (LINKED, "info"),
    ]
    assert checks[MONEY]["detail"] == (
        "fulfilled orders add up; 1 refunded order(s) not checked (007 records full-total refunds)"
    )
    assert checks[LINKED]["detail"] == (
        f"{report_scenario.LINKED_LEARNERS} linked in MicroMasters, "
        f"{report_scenario.FOUND_LEARNERS} found, 2 not found"
    )
    assert checks[LINKED]["sample"] == sorted(person.mm.id for person in world.unknown)
    assert "FAIL" not in output
    assert output.count("PASS  ") == 5


def test_a_run_that_stops_before_013_reports_the_certificates_left_without_enrollment(world):
    checks, output = run_import("002-009")

    # L4 and L5 had no cached enrollment: only 013 gives them one
    without = CourseRunCertificate.all_objects.filter(
        user__in=[world.good[3].user, world.good[4].user]
    )
    assert checks[CERTIFICATES]["status"] == "fail"
    assert checks[CERTIFICATES]["detail"] == "2 certificate(s) without an enrollment (run 013)"
    assert checks[CERTIFICATES]["sample"] == sorted(cert.id for cert in without)
    assert f"FAIL  {CERTIFICATES}: 2 certificate(s) without an enrollment (run 013)" in output

    checks, _output = run_import("013")

    assert checks[CERTIFICATES]["status"] == "pass"


def test_a_deleted_enrollment_behind_an_imported_certificate_is_reported(imported):
    l1 = imported.good[0]
    certificate = CourseRunCertificate.all_objects.get(user=l1.user)
    CourseRunEnrollment.all_objects.filter(user=l1.user, run=certificate.course_run).delete()

    checks, output = run_import("009")

    assert checks[CERTIFICATES]["status"] == "fail"
    assert checks[CERTIFICATES]["sample"] == [certificate.id]
    assert "FAIL  every imported certificate has an enrollment: 1 certificate(s)" in output


def test_a_second_certificate_for_another_run_of_the_same_course_fails_the_check(imported):
    l1 = imported.good[0]
    CourseRunCertificateFactory(user=l1.user, course_run=imported.a2)

    checks, output = run_import()

    assert checks[ONE_CERTIFICATE]["status"] == "fail"
    assert checks[ONE_CERTIFICATE]["detail"] == (
        "1 (user, course) pair(s) with several certificates"
    )
    assert checks[ONE_CERTIFICATE]["sample"] == [l1.user.id]
    assert f"FAIL  {ONE_CERTIFICATE}: 1 (user, course) pair(s)" in output
    assert checks[CERTIFICATES]["status"] == "pass"
    assert checks[MONEY]["status"] == "pass"
    table = report.as_table(report.build(ImportBatch.objects.order_by("-id").first()))
    assert f"FAIL  {ONE_CERTIFICATE}" in table
    assert f"e.g. {l1.user.id}" in table


def test_a_fulfilled_order_whose_payment_differs_from_its_total_fails_the_check(imported):
    order = Order.objects.get(reference_number=imported.l1_order.reference_number)
    Transaction.objects.filter(order=order).update(amount=Decimal("400.00"))

    checks, output = run_import()

    assert checks[MONEY]["status"] == "fail"
    assert checks[MONEY]["detail"].startswith("1 fulfilled order(s) do not add up")
    assert checks[MONEY]["sample"] == [order.id]
    assert f"FAIL  {MONEY}: 1 fulfilled order(s) do not add up" in output


def test_an_order_whose_receipt_became_no_transaction_fails_the_check(imported):
    order = Order.objects.get(reference_number=imported.l1_order.reference_number)
    elsewhere = OrderFactory(state="fulfilled")  # the receipt's id now belongs to another order
    Transaction.objects.filter(order=order).update(order=elsewhere)

    checks, _output = run_import()

    assert checks[MONEY]["status"] == "fail"
    assert checks[MONEY]["sample"] == [order.id]


def test_a_fulfilled_order_whose_receipt_has_no_transaction_id_is_a_warning_not_a_failure(
    world,
):
    unpaid = mm_factories.MMOrderFactory(
        user=world.good[0].mm, status="fulfilled", total_price_paid=report_scenario.PRICE
    )
    mm_factories.MMLineFactory(order=unpaid, course_run=world.run_a2)
    mm_factories.MMReceiptFactory(order=unpaid, data={"decision": "ACCEPT"})  # no transaction id

    checks, output = run_import()

    order = Order.objects.get(reference_number=unpaid.reference_number)
    assert not order.transactions.exists()
    assert checks[MONEY]["status"] == "warn"
    assert checks[MONEY]["sample"] == [order.id]
    assert unpaid.reference_number in checks[MONEY]["detail"]
    assert '"receipt has no transaction_id"' in checks[MONEY]["detail"]
    assert f"WARN  {MONEY}: 1 fulfilled order(s) have no payment because" in output
    assert "FAIL" not in output


# -- run_checks on its own --------------------------------------------------------------------


def _temp(cursor, name, definition):
    cursor.execute(f"CREATE TEMP TABLE {name} AS {definition}")


def test_checks_whose_source_was_not_staged_are_not_applicable(db):
    with connection.cursor() as cursor:
        checks = invariants.run_checks(cursor)

    assert [(check.name, check.status) for check in checks] == [
        (CERTIFICATES, "n/a"),
        (GRADES, "pass"),
        (ONE_CERTIFICATE, "pass"),
        (MONEY, "n/a"),
        (ONE_LEARNER, "n/a"),
        (LINKED, "n/a"),
    ]


def test_a_grade_whose_run_is_gone_fails(db):
    grade = CourseRunGradeFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        # the foreign key is deferred: inside a transaction the run can go first
        cursor.execute("DELETE FROM courses_courserun WHERE id = %s", [grade.course_run_id])
        check = invariants.grades_have_runs(cursor)
        transaction.set_rollback(True)  # or the test's own constraint check would fail

    assert (check.status, check.sample) == ("fail", [grade.id])
    assert check.detail == "1 grade(s) point at a missing run"


def test_a_revoked_certificate_does_not_count_as_a_second_one(db):
    first = CourseRunCertificateFactory()
    other_run = CourseRunFactory(course=first.course_run.course)
    CourseRunCertificateFactory(user=first.user, course_run=other_run, revoked=True)

    with connection.cursor() as cursor:
        assert invariants.one_certificate_per_course(cursor).status == "pass"
        CourseRunCertificate.all_objects.filter(is_revoked=True).update(is_revoked=False)
        check = invariants.one_certificate_per_course(cursor)

    assert (check.status, check.sample) == ("fail", [first.user_id])


def test_payments_minus_refunds_are_compared_with_the_total(db):
    paid, refunded_in_part, overpaid = (
        OrderFactory(state="fulfilled", total_price_paid=Decimal("100"), reference_number=ref)
        for ref in ["MM-1", "MM-2", "MM-3"]
    )
    TransactionFactory(order=paid, amount=Decimal("100"))
    TransactionFactory(order=refunded_in_part, amount=Decimal("150"))
    TransactionFactory(order=refunded_in_part, amount=Decimal("50"), transaction_type="refund")
    TransactionFactory(order=overpaid, amount=Decimal("100"))
    TransactionFactory(order=overpaid, amount=Decimal("100"))
    OrderFactory(state="fulfilled", reference_number="MM-4")  # no transaction, no receipt
    with connection.cursor() as cursor:
        _temp(
            cursor,
            "mm_order",
            "SELECT * FROM (VALUES (1, 'MM-1'), (2, 'MM-2'), "
            "(3, 'MM-3'), (4, 'MM-4')) AS o (id, reference_number)",
        )
        check = invariants.order_totals_match_transactions(cursor)
        _temp(cursor, "mm_receipt", "SELECT 4 AS order_id")
        with_receipts = invariants.order_totals_match_transactions(cursor)

    assert (check.status, check.sample) == ("fail", [overpaid.id])
    assert with_receipts.sample == sorted(
        [overpaid.id, Order.objects.get(reference_number="MM-4").id]
    )


def test_an_order_whose_receipt_had_no_transaction_id_is_a_warning_that_names_it(db):
    unpaid = OrderFactory(
        state="fulfilled", total_price_paid=Decimal("100"), reference_number="MM-NOTXN"
    )
    with connection.cursor() as cursor:
        _temp(cursor, "mm_order", "SELECT 4 AS id, 'MM-NOTXN'::text AS reference_number")
        _temp(cursor, "mm_receipt", "SELECT 4 AS order_id, NULL::text AS transaction_id")
        check = invariants.order_totals_match_transactions(cursor)

    assert (check.status, check.sample) == ("warn", [unpaid.id])
    assert check.detail.startswith(
        "1 fulfilled order(s) have no payment because their MicroMasters receipt has no "
        'transaction id, which step 007 skips as "receipt has no transaction_id": MM-NOTXN;'
    )


def test_an_unexplained_order_still_fails_when_another_one_is_explained(db):
    unpaid, overpaid = (
        OrderFactory(state="fulfilled", total_price_paid=Decimal("100"), reference_number=ref)
        for ref in ["MM-NOTXN", "MM-OVER"]
    )
    TransactionFactory(order=overpaid, amount=Decimal("300"))
    with connection.cursor() as cursor:
        _temp(
            cursor,
            "mm_order",
            "SELECT * FROM (VALUES (4, 'MM-NOTXN'), (5, 'MM-OVER')) AS o (id, reference_number)",
        )
        _temp(
            cursor,
            "mm_receipt",
            "SELECT * FROM (VALUES (4, ''), (5, 'txn-5')) AS r (order_id, transaction_id)",
        )
        check = invariants.order_totals_match_transactions(cursor)

    assert (check.status, check.sample) == ("fail", [overpaid.id])
    assert check.detail.startswith("1 fulfilled order(s) do not add up; besides, 1 fulfilled")
    assert "MM-NOTXN" in check.detail
    assert unpaid.id not in check.sample


def test_linked_users_are_counted_not_failed(db):
    found = UserFactory()
    with connection.cursor() as cursor:
        _temp(
            cursor,
            "mm_learner",
            f"SELECT * FROM (VALUES (7, {found.id}, false), (8, NULL, false), (9, NULL, false))"
            " AS l (mm_user_id, user_id, ambiguous)",
        )
        check = invariants.linked_users_found(cursor)

    assert check.status == "info"
    assert check.detail == "3 linked in MicroMasters, 1 found, 2 not found"
    assert check.sample == [8, 9]
