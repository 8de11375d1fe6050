"""Flexible pricing: MITx Online's financial assistance requests and tiers."""

from django.apps import AppConfig


class FlexiblepricingConfig(AppConfig):
    name = "flexiblepricing"
    default_auto_field = "django.db.models.BigAutoField"
