"""The MicroMasters import: ID mappings, the run ledger and the numbered SQL steps."""

from django.apps import AppConfig


class MicromastersImportConfig(AppConfig):
    name = "micromasters_import"
    verbose_name = "MicroMasters import"
    default_auto_field = "django.db.models.BigAutoField"
