"""Step 006: MicroMasters order lines become lines on the latest version of the run's product."""

import reversion
from django.contrib.contenttypes.models import ContentType

from ecommerce.factories import latest_product_version
from ecommerce.models import Line, Order
from micromasters_import.source.factories import MMLineFactory, MMOrderFactory


def test_each_line_points_at_the_latest_product_version_with_every_value(
    run_steps, learner, mapped_course, sellable_run
):
    mapped = mapped_course()
    first, second = sellable_run(mapped), sellable_run(mapped)
    with reversion.create_revision():
        first.product.price = "300.00"
        first.product.save()
    buyer = learner()
    order = MMOrderFactory(user=buyer.mm)
    line_one = MMLineFactory(order=order, course_run=first.mm)
    MMLineFactory(order=order, course_run=second.mm)

    reports = run_steps("005", "006")

    imported = Order.objects.get()
    lines = {line.purchased_object_id: line for line in Line.objects.filter(order=imported)}
    assert set(lines) == {first.run.id, second.run.id}
    run_type = ContentType.objects.get(app_label="courses", model="courserun")
    for sellable in (first, second):
        line = lines[sellable.run.id]
        assert line.product_version == latest_product_version(sellable.product)
        assert line.quantity == 1
        assert line.purchased_content_type == run_type
    assert lines[first.run.id].product_version.field_dict["price"] == 300
    assert lines[first.run.id].created_on == line_one.created_at
    assert reports["006"]["inserted"] == 2


def test_lines_of_orders_not_imported_are_reported_and_rerun_inserts_nothing(
    run_steps, learner, mapped_course, sellable_run
):
    mapped = mapped_course()
    sellable = sellable_run(mapped)
    unsellable = sellable_run(mapped, product=False)
    buyer = learner()
    good = MMOrderFactory(user=buyer.mm)
    MMLineFactory(order=good, course_run=sellable.mm)
    skipped = MMOrderFactory(user=buyer.mm)
    MMLineFactory(order=skipped, course_run=sellable.mm)
    MMLineFactory(order=skipped, course_run=unsellable.mm)

    first = run_steps("005", "006")
    second = run_steps("006")

    assert Line.objects.count() == 1
    assert first["006"]["inserted"] == 1
    assert first["006"]["skipped"] == {"order_not_imported": 2}
    assert second["006"]["inserted"] == 0
    assert second["006"]["already_present"] == 1


def test_two_lines_of_one_order_for_the_same_run_become_one_line(
    run_steps, learner, mapped_course, sellable_run
):
    sellable = sellable_run(mapped_course())
    order = MMOrderFactory(user=learner().mm)
    MMLineFactory(order=order, course_run=sellable.mm)
    MMLineFactory(order=order, course_run=sellable.mm)

    reports = run_steps("005", "006")

    assert Line.objects.count() == 1
    assert reports["006"]["skipped"] == {"superseded": 1}
