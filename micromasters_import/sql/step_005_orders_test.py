"""Step 005: one MITx Online order per MicroMasters order whose every line can be sold."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection

from ecommerce.models import Order, Product
from micromasters_import.source.factories import (
    MMLineFactory,
    MMOrderFactory,
    MMUserFactory,
)
from micromasters_import.testing.reports import assert_only_skipped


def _when(day):
    return datetime(2019, 9, day, 10, 0, tzinfo=UTC)


def test_a_two_line_order_becomes_one_order_with_every_value(
    run_step, learner, mapped_course, sellable_run
):
    mapped = mapped_course()
    first, second = sellable_run(mapped), sellable_run(mapped)
    buyer = learner()
    order = MMOrderFactory(
        user=buyer.mm,
        status="partially_refunded",
        total_price_paid=Decimal("500.00"),
        reference_number="MM-prod-10452",
        created_at=_when(1),
        modified_at=_when(2),
    )
    MMLineFactory(order=order, course_run=first.mm)
    MMLineFactory(order=order, course_run=second.mm)

    report = run_step("005")

    imported = Order.objects.get()
    assert imported.reference_number == "MM-prod-10452"
    assert imported.purchaser == buyer.user
    assert imported.state == "partially_refunded"
    assert imported.total_price_paid == Decimal("500.00")
    assert imported.gateway_type == "CyberSource"
    assert (imported.created_on, imported.updated_on) == (_when(1), _when(2))
    assert (report["inserted"], report["candidates"]) == (1, 1)


def test_imports_fulfilled_refunded_and_partially_refunded_only(
    run_step, learner, mapped_course, sellable_run
):
    sellable = sellable_run(mapped_course())
    buyer = learner()
    for status in ["fulfilled", "refunded", "partially_refunded", "created", "failed"]:
        MMLineFactory(order=MMOrderFactory(user=buyer.mm, status=status), course_run=sellable.mm)

    report = run_step("005")

    assert sorted(Order.objects.values_list("state", flat=True)) == [
        "fulfilled",
        "partially_refunded",
        "refunded",
    ]
    assert report["skipped"] == {"order_status_not_imported": 2}


def test_an_order_with_one_unsellable_line_is_skipped_whole(
    run_step, learner, mapped_course, sellable_run, mm
):
    mapped = mapped_course()
    good = sellable_run(mapped)
    no_product = sellable_run(mapped, product=False)
    inactive = sellable_run(mapped)
    Product.objects.filter(pk=inactive.product.pk).update(is_active=False)
    buyer = learner()
    for bad_line in [
        {"course_run": no_product.mm},
        {"course_run": inactive.mm},
        {"course_key": "course-v1:MITx+NOT+A_RUN"},
    ]:
        order = MMOrderFactory(user=buyer.mm)
        MMLineFactory(order=order, course_run=good.mm)
        MMLineFactory(order=order, **bad_line)
    MMOrderFactory(user=buyer.mm)  # no lines at all
    MMLineFactory(order=MMOrderFactory(user=buyer.mm, reference_number=None), course_run=good.mm)
    MMLineFactory(order=MMOrderFactory(user=MMUserFactory()), course_run=good.mm)

    report = run_step("005")

    assert_only_skipped(
        report,
        Order,
        line_product_missing=2,
        line_run_not_imported=1,
        no_linked_account=1,
        order_without_lines=1,
        order_without_reference_number=1,
    )


def test_an_order_already_in_mitx_online_and_a_second_run_insert_nothing(
    run_twice, learner, mapped_course, sellable_run
):
    sellable = sellable_run(mapped_course())
    buyer = learner()
    orders = [MMOrderFactory(user=buyer.mm) for _ in range(2)]
    for order in orders:
        MMLineFactory(order=order, course_run=sellable.mm)

    first, second = run_twice("005")

    assert first["inserted"] == 2
    assert (second["inserted"], second["already_present"]) == (0, 2)
    assert sorted(Order.objects.values_list("reference_number", flat=True)) == sorted(
        order.reference_number for order in orders
    )


def test_impossible_totals_and_overlong_reference_numbers_are_skipped_by_id(
    run_step, learner, mapped_course, sellable_run, mm
):
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {mm}.ecommerce_order ALTER COLUMN reference_number TYPE text")
    sellable = sellable_run(mapped_course())
    buyer = learner()
    free = MMOrderFactory(user=buyer.mm, total_price_paid=Decimal("0.00"))
    bad_totals = [
        MMOrderFactory(user=buyer.mm, total_price_paid=total)
        for total in [Decimal("NaN"), Decimal("-250.00"), Decimal("1000000000000000.00")]
    ]
    long_reference = MMOrderFactory(user=buyer.mm, reference_number="MM-" + "9" * 253)
    for order in [free, *bad_totals, long_reference]:
        MMLineFactory(order=order, course_run=sellable.mm)

    report = run_step("005")

    assert list(Order.objects.values_list("reference_number", "total_price_paid")) == [
        (free.reference_number, Decimal("0"))
    ]
    assert report["skipped"] == {"invalid_amount": 3, "text_too_long": 1}
    assert report["samples"]["invalid_amount"] == [order.id for order in bad_totals]
    assert report["samples"]["text_too_long"] == [long_reference.id]
