"""Stand-in for MITx Online's B2B app, whose contract pages course runs may belong to.

The import never sets a contract, but the column is part of the course runs' partial unique
indexes, so the foreign key's target must exist. The label is MITx Online's own (`b2b`).
"""

from django.apps import AppConfig


class B2BStandInConfig(AppConfig):
    name = "b2b"
    verbose_name = "B2B (stand-in)"
