# MITx Online's own first migration of this app, kept under its name and with its tables, so
# that a MITx Online database where it is applied continues from here.

import django.db.models.deletion
from django.db import migrations, models

from micromasters_import.app_settings import mitxonline_dependency


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        mitxonline_dependency(
            "courses", "0011_fix_default_enrollment_mode_for_existing_enrollments"
        ),
    ]

    operations = [
        migrations.CreateModel(
            name="ProgramId",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("micromasters_id", models.IntegerField(unique=True)),
                ("program", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, to="courses.program")),
            ],
        ),
        migrations.CreateModel(
            name="CourseId",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("micromasters_id", models.IntegerField(unique=True)),
                ("course", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, to="courses.course")),
            ],
        ),
    ]
