"""Step 007: receipts of imported orders become transactions, as MITx Online recorded them."""

from decimal import Decimal

from django.db import connection

from ecommerce.models import Order, Transaction
from micromasters_import.source.factories import (
    MMLineFactory,
    MMOrderFactory,
    MMReceiptFactory,
)


def _order(buyer, sellable, **fields):
    order = MMOrderFactory(user=buyer.mm, **fields)
    MMLineFactory(order=order, course_run=sellable.mm)
    return order


def test_receipts_become_payments_or_refunds_with_every_value(
    run_steps, learner, mapped_course, sellable_run
):
    sellable = sellable_run(mapped_course())
    buyer = learner()
    paid = _order(buyer, sellable, status="fulfilled", total_price_paid=Decimal("250.00"))
    refunded = _order(buyer, sellable, status="refunded", total_price_paid=Decimal("125.50"))
    partial = _order(buyer, sellable, status="partially_refunded")
    receipt = MMReceiptFactory(order=paid, transaction_id="T-PAID")
    MMReceiptFactory(order=refunded, transaction_id="T-REFUND-1")
    MMReceiptFactory(order=refunded, transaction_id="T-REFUND-2")
    MMReceiptFactory(order=partial, transaction_id="T-PARTIAL")

    reports = run_steps("005", "007")

    payment = Transaction.objects.get(transaction_id="T-PAID")
    assert payment.order == Order.objects.get(reference_number=paid.reference_number)
    assert payment.transaction_type == "payment"
    assert payment.amount == Decimal("250.00")
    assert payment.reason == ""
    assert payment.data == receipt.data
    assert (payment.created_on, payment.updated_on) == (receipt.created_at, receipt.modified_at)
    refunds = Transaction.objects.filter(transaction_id__startswith="T-REFUND")
    assert {(t.transaction_type, t.amount) for t in refunds} == {("refund", Decimal("125.50"))}
    assert refunds.count() == 2
    assert Transaction.objects.get(transaction_id="T-PARTIAL").transaction_type == "refund"
    assert reports["007"]["inserted"] == 4


def test_receipts_that_cannot_come_over_are_reported_and_rerun_inserts_nothing(
    run_steps, learner, mapped_course, sellable_run
):
    sellable = sellable_run(mapped_course())
    buyer = learner()
    paid = _order(buyer, sellable)
    MMReceiptFactory(order=paid, transaction_id="T-1")
    MMReceiptFactory(order=paid, data={"decision": "DECLINE"})
    MMReceiptFactory(order=paid, transaction_id="T-1")  # the same transaction twice
    MMReceiptFactory(order=None, transaction_id="T-ORPHAN")
    not_imported = _order(buyer, sellable, status="created")
    MMReceiptFactory(order=not_imported, transaction_id="T-CREATED")

    first = run_steps("005", "007")
    second = run_steps("007")

    assert list(Transaction.objects.values_list("transaction_id", flat=True)) == ["T-1"]
    assert first["007"]["inserted"] == 1
    assert first["007"]["skipped"] == {
        "order_not_imported": 1,
        "receipt_without_order": 1,
        "receipt_without_transaction_id": 1,
        "superseded": 1,
    }
    assert second["007"]["inserted"] == 0
    assert second["007"]["already_present"] == 1
    assert second["007"]["skipped"] == first["007"]["skipped"]


def test_an_overlong_transaction_id_or_an_impossible_amount_is_skipped_by_id(
    run_steps, learner, mapped_course, sellable_run
):
    sellable = sellable_run(mapped_course())
    buyer = learner()
    fine, odd = _order(buyer, sellable), _order(buyer, sellable)
    kept = MMReceiptFactory(order=fine, transaction_id="T-FINE")
    too_long = MMReceiptFactory(order=fine, transaction_id="T" * 256)
    run_steps("005")
    # An order MITx Online holds with a total that is not a number (e.g. from its own import).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ecommerce_order SET total_price_paid = 'NaN' WHERE reference_number = %s",
            [odd.reference_number],
        )
    not_a_number = MMReceiptFactory(order=odd, transaction_id="T-ODD")

    reports = run_steps("007")

    assert list(Transaction.objects.values_list("transaction_id", "amount")) == [
        (kept.data["transaction_id"], Decimal("250.00"))
    ]
    report = reports["007"]
    assert report["skipped"] == {"invalid_amount": 1, "text_too_long": 1}
    assert report["samples"]["text_too_long"] == [too_long.id]
    assert report["samples"]["invalid_amount"] == [not_a_number.id]
