# MITx Online's own third migration of this app, kept under its name and with its table.
# Inside MITx Online, wagtail's Revision model exists from wagtailcore 0070 on.

import django.db.models.deletion
from django.db import migrations, models

from micromasters_import.app_settings import mitxonline_dependency


class Migration(migrations.Migration):
    dependencies = [
        mitxonline_dependency("courses", "0020_courseruncertificate_certificate_page_revision"),
        mitxonline_dependency("wagtailcore", "0070_rename_pagerevision_revision"),
        ("micromasters_import", "0002_programtiers_pk_mapping"),
    ]

    operations = [
        migrations.CreateModel(
            name="CourseCertificateRevisionId",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("certificate_page_revision", models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="wagtailcore.revision")),
                ("course", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, to="courses.course")),
            ],
        ),
    ]
