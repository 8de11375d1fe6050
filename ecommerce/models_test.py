"""Products, orders and lines behave as MITx Online's do, including reversion versions."""

import pytest
import reversion
from django.db import IntegrityError, transaction

from courses.factories import CourseRunFactory
from ecommerce.factories import (
    LineFactory,
    OrderFactory,
    ProductFactory,
    TransactionFactory,
    VersionedProductFactory,
    create_product_version,
    latest_product_version,
)
from ecommerce.models import Line, Order, Product

pytestmark = pytest.mark.django_db


def test_product_is_registered_with_reversion_without_timestamps():
    assert reversion.is_registered(Product)
    fields = set(reversion.revisions._get_options(Product).fields)
    assert {"price", "description", "is_active", "object_id"} <= fields
    assert not fields & {"created_on", "updated_on"}


def test_plain_product_factory_creates_no_version_but_the_helper_does():
    product = ProductFactory()
    assert latest_product_version(product) is None
    version = create_product_version(product)
    assert version.object_id == str(product.pk)
    assert "created_on" not in version.field_dict
    assert VersionedProductFactory().pk is not None
    assert latest_product_version(Product.all_objects.order_by("-pk").first()) is not None


def test_inactive_products_are_hidden_and_delete_is_soft():
    product = ProductFactory()
    inactive = ProductFactory(is_active=False)
    assert list(Product.objects.all()) == [product]
    product.delete()
    Product.objects.all().delete()
    assert set(Product.all_objects.all()) == {product, inactive}
    assert not Product.all_objects.filter(is_active=True).exists()


def test_one_product_per_purchasable_object():
    run = CourseRunFactory()
    ProductFactory(purchasable_object=run)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(purchasable_object=run, is_active=False)


def test_orm_orders_get_a_reference_number_imported_ones_keep_theirs():
    native = OrderFactory()
    imported = OrderFactory(imported=True)
    duplicate = OrderFactory(reference_number=imported.reference_number)
    assert native.reference_number == f"mitxonline-dev-{native.pk}"
    assert Order.objects.get(pk=native.pk).reference_number == native.reference_number
    assert imported.reference_number.startswith("MM-")
    assert duplicate.reference_number == imported.reference_number  # not unique, as upstream


def test_line_points_at_the_products_version_and_purchased_object():
    line = LineFactory()
    product = Product.objects.get(pk=int(line.product_version.object_id))
    assert line.purchased_object == product.purchasable_object
    with pytest.raises(IntegrityError), transaction.atomic():
        Line.objects.create(
            order=line.order,
            product_version=line.product_version,
            quantity=1,
            purchased_object=product.purchasable_object,
        )


def test_transactions_default_to_payment():
    first, second = TransactionFactory(), TransactionFactory()
    assert first.transaction_type == "payment"
    assert first.transaction_id != second.transaction_id
