"""Step 010: every run bought in a fulfilled imported order becomes a PaidCourseRun."""

from datetime import UTC, datetime

from courses.factories import PaidCourseRunFactory
from courses.models import PaidCourseRun
from ecommerce.factories import LineFactory, OrderFactory
from ecommerce.models import Order
from micromasters_import.source.factories import MMLineFactory, MMOrderFactory
from micromasters_import.testing.reports import assert_only_skipped


def _when(day):
    return datetime(2019, 9, day, 10, 0, tzinfo=UTC)


def test_each_run_of_a_fulfilled_order_becomes_a_paid_run_with_every_value(
    run_steps, learner, mapped_course, sellable_run
):
    mapped = mapped_course()
    first, second = sellable_run(mapped), sellable_run(mapped)
    buyer = learner()
    order = MMOrderFactory(user=buyer.mm, created_at=_when(1), modified_at=_when(4))
    MMLineFactory(order=order, course_run=first.mm, created_at=_when(2), modified_at=_when(3))
    MMLineFactory(order=order, course_run=second.mm)

    reports = run_steps("005", "006", "010")

    imported = Order.objects.get(reference_number=order.reference_number)
    paid = PaidCourseRun.objects.order_by("course_run_id")
    assert [(p.user_id, p.course_run_id, p.order_id) for p in paid] == [
        (buyer.user.id, first.run.id, imported.id),
        (buyer.user.id, second.run.id, imported.id),
    ]
    for row in paid:
        assert (row.created_on, row.updated_on) == (_when(1), _when(4))  # the order's
    assert reports["010"]["candidates"] == 2
    assert reports["010"]["inserted"] == 2
    assert reports["010"]["skipped"] == {}


def test_an_order_already_in_mitx_online_counts_by_its_state_and_its_lines(
    run_step, learner, mapped_course, sellable_run
):
    mapped = mapped_course()
    bought, not_bought = sellable_run(mapped), sellable_run(mapped)
    buyer = learner()
    order = MMOrderFactory(user=buyer.mm)
    MMLineFactory(order=order, course_run=bought.mm)
    MMLineFactory(order=order, course_run=not_bought.mm)  # no MITx Online line for it
    MMLineFactory(order=order, course_key="course-v1:MITx+NOT+A_RUN")
    target = OrderFactory(
        purchaser=buyer.user, state="fulfilled", reference_number=order.reference_number
    )
    LineFactory(order=target, product=bought.product)
    Order.objects.filter(pk=target.pk).update(created_on=_when(7), updated_on=_when(8))

    report = run_step("010")

    paid = PaidCourseRun.objects.get()
    assert (paid.user, paid.course_run, paid.order) == (buyer.user, bought.run, target)
    assert (paid.created_on, paid.updated_on) == (_when(7), _when(8))
    assert (report["candidates"], report["inserted"]) == (3, 1)
    assert report["skipped"] == {"line_not_imported": 2}


def test_orders_not_fulfilled_or_not_imported_are_skipped_and_reported(
    run_steps, learner, mapped_course, sellable_run
):
    mapped = mapped_course()
    sellable = sellable_run(mapped)
    unsellable = sellable_run(mapped, product=False)
    buyer = learner()
    for status in ["refunded", "partially_refunded"]:
        MMLineFactory(order=MMOrderFactory(user=buyer.mm, status=status), course_run=sellable.mm)
    never_paid = MMOrderFactory(user=buyer.mm, status="created")
    MMLineFactory(order=never_paid, course_run=sellable.mm)
    half_sellable = MMOrderFactory(user=buyer.mm)  # 005 skips the whole order
    MMLineFactory(order=half_sellable, course_run=sellable.mm)
    MMLineFactory(order=half_sellable, course_run=unsellable.mm)
    no_reference = MMOrderFactory(user=buyer.mm, reference_number=None)
    MMLineFactory(order=no_reference, course_run=sellable.mm)

    reports = run_steps("005", "006", "010")

    assert sorted(Order.objects.values_list("state", flat=True)) == [
        "partially_refunded",
        "refunded",
    ]
    assert_only_skipped(reports["010"], PaidCourseRun, order_not_imported=4, order_not_fulfilled=2)


def test_two_lines_of_one_order_for_the_same_run_make_one_paid_run(
    run_steps, learner, mapped_course, sellable_run
):
    sellable = sellable_run(mapped_course())
    buyer = learner()
    order = MMOrderFactory(user=buyer.mm)
    first = MMLineFactory(order=order, course_run=sellable.mm)
    second = MMLineFactory(order=order, course_run=sellable.mm)

    reports = run_steps("005", "006", "010")

    assert PaidCourseRun.objects.count() == 1
    assert reports["010"]["inserted"] == 1
    assert reports["010"]["skipped"] == {"superseded": 1}
    assert reports["010"]["samples"]["superseded"] == [max(first.id, second.id)]


def test_a_paid_run_already_there_is_kept_and_a_second_run_inserts_nothing(
    run_steps, learner, mapped_course, sellable_run
):
    mapped = mapped_course()
    sellable = sellable_run(mapped)
    buyers = [learner() for _ in range(3)]
    for buyer in buyers:
        MMLineFactory(order=MMOrderFactory(user=buyer.mm), course_run=sellable.mm)
    run_steps("005", "006")
    first_order = Order.objects.get(purchaser=buyers[0].user)
    existing = PaidCourseRunFactory(user=buyers[0].user, course_run=sellable.run, order=first_order)
    PaidCourseRun.objects.filter(pk=existing.pk).update(created_on=_when(20), updated_on=_when(21))

    first = run_steps("010")
    second = run_steps("010")

    assert first["010"]["inserted"] == 2
    assert first["010"]["already_present"] == 1
    assert second["010"]["inserted"] == 0
    assert second["010"]["already_present"] == 3
    assert second["010"]["skipped"] == {}
    assert PaidCourseRun.objects.count() == 3
    kept = PaidCourseRun.objects.get(user=buyers[0].user)
    assert (kept.id, kept.created_on, kept.updated_on) == (existing.id, _when(20), _when(21))
