# MITx Online's own fourth migration of this app, kept under its name: the program
# certificate page revision of each mapped program.

import django.db.models.deletion
from django.db import migrations, models

from micromasters_import.app_settings import mitxonline_dependency


class Migration(migrations.Migration):
    dependencies = [
        mitxonline_dependency("courses", "0024_add_record_share_model"),
        mitxonline_dependency("wagtailcore", "0070_rename_pagerevision_revision"),
        ("micromasters_import", "0003_course_certificate_id_mapping"),
    ]

    operations = [
        migrations.AddField(
            model_name="programid",
            name="program_certificate_revision",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="wagtailcore.revision"),
        ),
    ]
