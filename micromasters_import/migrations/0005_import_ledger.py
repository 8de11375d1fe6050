# The import's own tables, after MITx Online's history of this app (0001-0004): the ledger of
# every run. The field changes on the mapping models only add help texts and verbose names,
# which change no SQL.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('micromasters_import', '0004_add_program_certificate_revision'),
    ]

    operations = [
        migrations.CreateModel(
            name='ImportBatch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_on', models.DateTimeField(auto_now_add=True)),
                ('updated_on', models.DateTimeField(auto_now=True)),
                ('batch', models.UUIDField(unique=True)),
                ('run_by', models.CharField(max_length=255)),
                ('options', models.JSONField(blank=True, default=dict)),
                ('dry_run', models.BooleanField(default=False)),
                ('finished_on', models.DateTimeField(blank=True, null=True)),
                ('invariants', models.JSONField(blank=True, default=list, help_text='Post-run checks: name, status, detail, sample ids')),
            ],
            options={
                'verbose_name_plural': 'import batches',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='ImportRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_on', models.DateTimeField(auto_now_add=True)),
                ('updated_on', models.DateTimeField(auto_now=True)),
                ('batch', models.UUIDField(db_index=True, help_text='Shared by the steps of one command run')),
                ('step', models.CharField(db_index=True, max_length=3)),
                ('name', models.CharField(max_length=200)),
                ('checksum', models.CharField(help_text="sha256 of the step's SQL file", max_length=64)),
                ('started_on', models.DateTimeField(blank=True, null=True)),
                ('finished_on', models.DateTimeField(blank=True, null=True)),
                ('status', models.CharField(choices=[('pending', 'pending (started, not finished)'), ('done', 'done'), ('failed', 'failed'), ('rolled_back', 'rolled back (another step of the same transaction failed)'), ('dry_run', 'dry run (rolled back on purpose)'), ('not_run', 'not run (an earlier step failed)')], default='pending', max_length=20)),
                ('rows_inserted', models.IntegerField(blank=True, null=True)),
                ('seconds', models.FloatField(blank=True, null=True)),
                ('error', models.TextField(blank=True, default='')),
                ('run_by', models.CharField(help_text='OS user @ host, and database role', max_length=255)),
                ('options', models.JSONField(blank=True, default=dict)),
                ('report', models.JSONField(blank=True, default=dict, help_text='Per-outcome counts: what came over and why not')),
                ('fingerprint', models.CharField(blank=True, default='', help_text="Digest of the step's SQL and of everything it read, at the end of its run", max_length=64)),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.AlterModelOptions(
            name='coursecertificaterevisionid',
            options={'verbose_name': 'course certificate revision mapping'},
        ),
        migrations.AlterModelOptions(
            name='courseid',
            options={'verbose_name': 'course ID mapping'},
        ),
        migrations.AlterModelOptions(
            name='programid',
            options={'verbose_name': 'program ID mapping'},
        ),
        migrations.AlterModelOptions(
            name='programtierid',
            options={'verbose_name': 'program tier ID mapping'},
        ),
        migrations.AlterField(
            model_name='coursecertificaterevisionid',
            name='certificate_page_revision',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, to='wagtailcore.revision'),
        ),
        migrations.AlterField(
            model_name='courseid',
            name='micromasters_id',
            field=models.IntegerField(help_text='MicroMasters courses_course.id', unique=True),
        ),
        migrations.AlterField(
            model_name='programid',
            name='micromasters_id',
            field=models.IntegerField(help_text='MicroMasters courses_program.id', unique=True),
        ),
        migrations.AlterField(
            model_name='programid',
            name='program_certificate_revision',
            field=models.ForeignKey(blank=True, help_text='Certificate page revision given to imported program certificates', null=True, on_delete=django.db.models.deletion.CASCADE, to='wagtailcore.revision'),
        ),
        migrations.AlterField(
            model_name='programtierid',
            name='micromasters_tier_program_id',
            field=models.IntegerField(help_text='MicroMasters financialaid_tierprogram.id', unique=True),
        ),
    ]
