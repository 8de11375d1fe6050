"""Ecommerce: MITx Online's products, orders, lines and transactions."""

from django.apps import AppConfig


class EcommerceConfig(AppConfig):
    name = "ecommerce"
    default_auto_field = "django.db.models.BigAutoField"
