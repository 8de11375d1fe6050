"""Admin for products, orders, lines and transactions, for operators checking an import.

Product and Order pages use reversion's VersionAdmin as MITx Online does, so admin edits
of a product create the `reversion_version` rows that order lines point at.
"""

from django.contrib import admin
from mitol.common.admin import TimestampedModelAdmin
from reversion.admin import VersionAdmin

from ecommerce.models import Discount, Line, Order, Product, Transaction
from main.admin_mixins import AllObjectsAdminMixin


@admin.register(Discount)
class DiscountAdmin(TimestampedModelAdmin):
    list_display = (
        "id",
        "discount_code",
        "amount",
        "discount_type",
        "redemption_type",
        "payment_type",
        "automatic",
        "activation_date",
        "expiration_date",
    )
    list_filter = ("discount_type", "redemption_type", "payment_type", "automatic", "is_bulk")
    search_fields = ("discount_code",)
    ordering = ("-id",)


@admin.register(Product)
class ProductAdmin(AllObjectsAdminMixin, TimestampedModelAdmin, VersionAdmin):
    list_display = (
        "id",
        "description",
        "content_type",
        "object_id",
        "purchasable_object",
        "price",
        "is_active",
    )
    list_filter = ("is_active", "content_type")
    search_fields = ("description", "=object_id")
    ordering = ("-id",)


class LineInline(admin.TabularInline):
    model = Line
    extra = 0
    raw_id_fields = ("product_version",)
    fields = (
        "product_version",
        "quantity",
        "purchased_content_type",
        "purchased_object_id",
    )


class TransactionInline(admin.TabularInline):
    model = Transaction
    extra = 0
    fields = ("transaction_id", "transaction_type", "amount", "reason", "data")


@admin.register(Order)
class OrderAdmin(TimestampedModelAdmin):
    list_display = (
        "id",
        "reference_number",
        "state",
        "purchaser",
        "total_price_paid",
        "gateway_type",
        "created_on",
    )
    list_filter = ("state", "gateway_type")
    search_fields = ("reference_number", "purchaser__username", "purchaser__email")
    autocomplete_fields = ("purchaser",)
    list_select_related = ("purchaser",)
    inlines = (LineInline, TransactionInline)
    include_created_on_in_list = True
    ordering = ("-id",)


@admin.register(Line)
class LineAdmin(TimestampedModelAdmin):
    list_display = (
        "id",
        "order",
        "product_version",
        "quantity",
        "purchased_content_type",
        "purchased_object_id",
    )
    list_filter = ("purchased_content_type",)
    search_fields = ("order__reference_number", "=purchased_object_id")
    raw_id_fields = ("order", "product_version")
    list_select_related = ("order", "product_version", "purchased_content_type")
    ordering = ("-id",)


@admin.register(Transaction)
class TransactionAdmin(TimestampedModelAdmin):
    list_display = (
        "id",
        "transaction_id",
        "order",
        "transaction_type",
        "amount",
        "reason",
        "created_on",
    )
    list_filter = ("transaction_type",)
    search_fields = ("transaction_id", "order__reference_number")
    raw_id_fields = ("order",)
    list_select_related = ("order",)
    ordering = ("-id",)
