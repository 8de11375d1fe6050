"""Production's RULE that turns DELETE on ecommerce_product into a no-op.

MITx Online created it in 2022 (ecommerce 0019) and re-created it in 2026 (0046), so that
products, which order lines point at through reversion versions, are never hard-deleted.
TRUNCATE (used by test flushes) is not affected.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ecommerce", "0002_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE RULE delete_protect AS ON DELETE TO ecommerce_product DO INSTEAD NOTHING",
            reverse_sql="DROP RULE IF EXISTS delete_protect ON ecommerce_product",
        ),
    ]
