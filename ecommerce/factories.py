"""factory-boy factories for discounts, products, orders, lines and transactions.

Order lines point at a `reversion_version` row of a product, not at the product. Upstream's
ProductFactory creates no version; here `VersionedProductFactory` (or `create_product_version`)
saves the product inside `reversion.create_revision()` so that a version exists, and
`LineFactory` uses it by default.
"""

from decimal import Decimal

import factory
import reversion
from factory import fuzzy
from factory.django import DjangoModelFactory
from reversion.models import Version

from courses.factories import CourseRunFactory, ProgramFactory
from ecommerce.models import (
    Discount,
    DiscountType,
    Line,
    Order,
    OrderStatus,
    Product,
    RedemptionType,
    Transaction,
    TransactionType,
)
from users.factories import UserFactory


def create_product_version(product):
    """Save `product` inside a revision and return its newest `reversion.models.Version`."""
    with reversion.create_revision():
        product.save()
    return latest_product_version(product)


def latest_product_version(product):
    """The newest version of `product`, as step 006 of the import picks (MAX(id))."""
    return Version.objects.get_for_object(product).order_by("-pk").first()


def product_of_version(version):
    """The product a version belongs to, inactive ones included (unlike `version.object`)."""
    return Product.all_objects.get(pk=int(version.object_id))


class DiscountFactory(DjangoModelFactory):
    amount = fuzzy.FuzzyDecimal(1, 49, precision=2)
    automatic = False
    discount_type = fuzzy.FuzzyChoice(DiscountType.values)
    redemption_type = RedemptionType.UNLIMITED
    discount_code = factory.Sequence(lambda n: f"DISCOUNT{n}")

    class Meta:
        model = Discount


class ProductFactory(DjangoModelFactory):
    """A course-run product with no reversion version (as upstream's factory)."""

    purchasable_object = factory.SubFactory(CourseRunFactory)
    price = fuzzy.FuzzyDecimal(2, 2000, precision=2)
    description = factory.Faker("sentence")
    is_active = True

    class Meta:
        model = Product


class ProgramProductFactory(ProductFactory):
    purchasable_object = factory.SubFactory(ProgramFactory)


class VersionedProductFactory(ProductFactory):
    """A product saved inside `reversion.create_revision()`, so a version row exists."""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with reversion.create_revision():
            return super()._create(model_class, *args, **kwargs)


class OrderFactory(DjangoModelFactory):
    purchaser = factory.SubFactory(UserFactory)
    state = OrderStatus.PENDING
    total_price_paid = Decimal("10.00000")

    class Meta:
        model = Order

    class Params:
        fulfilled = factory.Trait(state=OrderStatus.FULFILLED)
        imported = factory.Trait(
            state=OrderStatus.FULFILLED,
            reference_number=factory.Sequence(lambda n: f"MM-prod-{n}"),
        )


class LineFactory(DjangoModelFactory):
    """A line for a versioned product: pass `product=` or `product_version=`, or get a new one.

    `purchased_object` follows the version's product, as the import's step 006 fills it.
    """

    order = factory.SubFactory(OrderFactory)
    product_version = factory.LazyAttribute(
        lambda line: latest_product_version(line.product or VersionedProductFactory())
    )
    quantity = 1
    purchased_object = factory.LazyAttribute(
        lambda line: product_of_version(line.product_version).purchasable_object
    )

    class Meta:
        model = Line

    class Params:
        product = None


class TransactionFactory(DjangoModelFactory):
    """Unlike upstream, sets a unique `transaction_id` so two transactions do not collide."""

    order = factory.SubFactory(OrderFactory)
    transaction_id = factory.Sequence(lambda n: f"txn-{n}")
    amount = Decimal("10.00000")
    data = factory.LazyFunction(lambda: {"decision": "ACCEPT"})
    transaction_type = TransactionType.PAYMENT
    reason = ""

    class Meta:
        model = Transaction
