"""The MITx Online ecommerce tables the import writes MicroMasters orders into.

Steps 005-007 and 010 of the import insert orders, lines and transactions with raw SQL and
rely on the exact unique keys below for idempotency (or, for orders, on the absence of one),
so the tables reproduce production column for column. Ids are bigint, as upstream.
"""

import reversion
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from mitol.common.models import TimestampedModel, TimestampedModelQuerySet
from reversion.models import Version

REFERENCE_NUMBER_PREFIX = "mitxonline-"

# Products and order lines can only be for a course run or a program upstream.
PURCHASABLE_CONTENT_TYPES = Q(app_label="courses", model__in=["courserun", "program"])


class OrderStatus(models.TextChoices):
    """Order states; `partially_refunded` was added upstream for the MicroMasters import."""

    PENDING = "pending", "Pending"
    FULFILLED = "fulfilled", "Fulfilled"
    CANCELED = "canceled", "Canceled"
    DECLINED = "declined", "Declined"
    ERRORED = "errored", "Errored"
    REFUNDED = "refunded", "Refunded"
    REVIEW = "review", "Review"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially Refunded"


class DiscountType(models.TextChoices):
    """How a discount's amount is applied to a price."""

    PERCENT_OFF = "percent-off", "Percent off"
    DOLLARS_OFF = "dollars-off", "Dollars off"
    FIXED_PRICE = "fixed-price", "Fixed price"


class RedemptionType(models.TextChoices):
    """How many times a discount code may be redeemed."""

    ONE_TIME = "one-time", "One time"
    ONE_TIME_PER_USER = "one-time-per-user", "One time per user"
    UNLIMITED = "unlimited", "Unlimited"


class PaymentType(models.TextChoices):
    """Why a discount exists; financial-assistance discounts back flexible-price tiers."""

    MARKETING = "marketing", "Marketing"
    SALES = "sales", "Sales"
    FINANCIAL_ASSISTANCE = "financial-assistance", "Financial assistance"
    CUSTOMER_SUPPORT = "customer-support", "Customer support"
    STAFF = "staff", "Staff"
    LEGACY = "legacy", "Legacy"


class TransactionType(models.TextChoices):
    """A transaction is a payment or a refund; the import maps refunded orders to refund."""

    PAYMENT = "payment", "payment"
    REFUND = "refund", "refund"


class GatewayType(models.TextChoices):
    """The payment gateway that handled an order; imported orders went through CyberSource."""

    CYBERSOURCE = "CyberSource", "CyberSource"
    STRIPE = "Stripe", "Stripe"


class Discount(TimestampedModel):
    """A discount; needed here because every flexible-price tier points at one (PROTECT).

    The reference lists these columns; the lengths of `payment_type` and
    `b2b_sheet_location` are not given there and follow the neighbouring varchar(30)/(255).
    """

    amount = models.DecimalField(decimal_places=5, max_digits=20)
    automatic = models.BooleanField(default=False)
    discount_type = models.CharField(choices=DiscountType.choices, max_length=30)
    redemption_type = models.CharField(choices=RedemptionType.choices, max_length=30)
    payment_type = models.CharField(  # noqa: DJ001
        choices=PaymentType.choices, max_length=30, null=True, blank=True
    )
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, default=0)
    discount_code = models.CharField(max_length=100)
    activation_date = models.DateTimeField(null=True, blank=True)
    expiration_date = models.DateTimeField(null=True, blank=True)
    is_bulk = models.BooleanField(default=False)
    is_program_discount = models.BooleanField(null=True, blank=True, default=False)
    b2b_sheet_location = models.CharField(  # noqa: DJ001
        max_length=255, null=True, blank=True
    )

    def __str__(self):
        return f"{self.discount_code}: {self.amount} {self.discount_type}"


class ActiveUndeleteQuerySet(TimestampedModelQuerySet):
    """Turns `delete()` into deactivation, because products are never really deleted."""

    def delete(self):
        """Deactivate instead of deleting: order lines keep pointing at product versions."""
        return self.update(is_active=False)


class ActiveUndeleteManager(models.Manager.from_queryset(ActiveUndeleteQuerySet)):
    """Only active products (the default manager upstream); step 006 also uses only these."""

    def get_queryset(self):
        """Filter on `is_active`; inactive products stay in the table for history."""
        return super().get_queryset().filter(is_active=True)


@reversion.register(exclude=("created_on", "updated_on"))
class Product(TimestampedModel):
    """Something sold: a course run or a program, at a price.

    Registered with reversion as upstream: order lines point at a `reversion_version` row of
    the product rather than at the product, so price changes do not rewrite history. A
    version only exists if the product was saved inside `reversion.create_revision()`.
    A database RULE (migration 0002) turns DELETE into a no-op, as in production.
    """

    content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, limit_choices_to=PURCHASABLE_CONTENT_TYPES
    )
    object_id = models.PositiveIntegerField()
    purchasable_object = GenericForeignKey("content_type", "object_id")
    price = models.DecimalField(max_digits=7, decimal_places=2)
    description = models.TextField()
    is_active = models.BooleanField(
        default=True, help_text="Inactive products are hidden from `objects`"
    )

    objects = ActiveUndeleteManager()
    all_objects = models.Manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["object_id", "content_type"], name="unique_purchasable_object"
            )
        ]

    def __str__(self):
        return f"#{self.pk} {self.content_type.model} {self.object_id} {self.price}"

    def delete(self, *args, **kwargs):
        """Deactivate rather than delete, as upstream: lines and versions still need it."""
        self.is_active = False
        self.save(update_fields=("is_active", "updated_on"))
        return (0, {})


class Order(TimestampedModel):
    """A purchase; step 005 imports MicroMasters orders with their `MM-...` reference number.

    `reference_number` is deliberately NOT unique, as in production: the import's
    idempotency rests on an anti-join on it.
    """

    state = models.CharField(max_length=150, choices=OrderStatus.choices)
    purchaser = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders"
    )
    total_price_paid = models.DecimalField(decimal_places=5, max_digits=20)
    reference_number = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    gateway_type = models.CharField(
        max_length=32, choices=GatewayType.choices, default=GatewayType.CYBERSOURCE
    )

    def __str__(self):
        return f"{self.state.capitalize()} Order #{self.pk} ({self.reference_number})"

    def save(self, *args, **kwargs):
        """Give ORM-created orders a reference number, as upstream (raw SQL supplies its own)."""
        super().save(*args, **kwargs)
        if self.reference_number is None:
            environment = getattr(settings, "ENVIRONMENT", "dev")
            self.reference_number = f"{REFERENCE_NUMBER_PREFIX}{environment}-{self.pk}"
            super().save(update_fields=("reference_number", "updated_on"))


class Line(TimestampedModel):
    """An order line; step 006 points it at the latest reversion version of the product."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_version = models.ForeignKey(Version, on_delete=models.CASCADE)
    quantity = models.PositiveIntegerField()
    purchased_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        limit_choices_to=PURCHASABLE_CONTENT_TYPES,
    )
    purchased_object_id = models.PositiveIntegerField(null=True, blank=True)
    purchased_object = GenericForeignKey("purchased_content_type", "purchased_object_id")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "purchased_content_type", "purchased_object_id"],
                name="unique_order_purchased_object",
            )
        ]

    def __str__(self):
        return f"Line #{self.pk} of order {self.order_id}: version {self.product_version_id}"


class Transaction(TimestampedModel):
    """A payment or refund receipt; step 007 writes one per imported order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transactions")
    transaction_id = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(decimal_places=5, max_digits=20)
    data = models.JSONField()
    # TextField(max_length=20) upstream: the column is `text`, the length is form-only.
    transaction_type = models.TextField(
        choices=TransactionType.choices, default=TransactionType.PAYMENT, max_length=20
    )
    reason = models.CharField(max_length=255, blank=True)

    def __str__(self):
        return f"{self.transaction_type} {self.transaction_id} for order {self.order_id}"
