# MITx Online's own second migration of this app, kept under its name and with its table.

import django.db.models.deletion
from django.db import migrations, models

from micromasters_import.app_settings import mitxonline_dependency


class Migration(migrations.Migration):
    dependencies = [
        mitxonline_dependency("flexiblepricing", "0018_alter_flexibleprice_status"),
        ("micromasters_import", "0001_micromasters_pk_mapping"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProgramTierId",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("micromasters_tier_program_id", models.IntegerField(unique=True)),
                ("flexible_price_tier", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, to="flexiblepricing.flexiblepricetier")),
            ],
        ),
    ]
