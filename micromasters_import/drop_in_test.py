"""The app can replace MITx Online's own `micromasters_import/` folder and work there unchanged.

What can be checked without a MITx Online checkout: its migration history continues MITx
Online's (the first four keep MITx Online's names and dependencies and build tables identical
to those in a database MITx Online migrated), and its product code reaches MITx Online's apps
only through Django's model registry and reads no setting MITx Online does not have.
"""

import ast
import importlib
import itertools
import os
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from main.testing import mitxonline_database as real

APP_DIR = Path(__file__).resolve().parent
APP = "micromasters_import"
# MITx Online's history of this app, with the dependencies its own copy declares.
MITXONLINE_HISTORY = {
    "0001_micromasters_pk_mapping": {
        ("courses", "0011_fix_default_enrollment_mode_for_existing_enrollments"),
    },
    "0002_programtiers_pk_mapping": {
        ("flexiblepricing", "0018_alter_flexibleprice_status"),
        (APP, "0001_micromasters_pk_mapping"),
    },
    "0003_course_certificate_id_mapping": {
        ("courses", "0020_courseruncertificate_certificate_page_revision"),
        ("wagtailcore", "0070_rename_pagerevision_revision"),
        (APP, "0002_programtiers_pk_mapping"),
    },
    "0004_add_program_certificate_revision": {
        ("courses", "0024_add_record_share_model"),
        ("wagtailcore", "0070_rename_pagerevision_revision"),
        (APP, "0003_course_certificate_id_mapping"),
    },
}
MAPPING_TABLES = (
    "micromasters_import_courseid",
    "micromasters_import_programid",
    "micromasters_import_programtierid",
    "micromasters_import_coursecertificaterevisionid",
)
# MITx Online's apps, which the stand-ins of this project replace.
MITXONLINE_APPS = {"users", "courses", "ecommerce", "flexiblepricing", "b2b", "wagtailcore", "main"}
# Test support ships in the folder (factories, fixtures, the `testing/` worlds) but is never
# imported by product code.
TEST_SUPPORT = {"factories.py", "conftest.py"}


def product_modules():
    for path in sorted(APP_DIR.rglob("*.py")):
        if path.name.endswith("_test.py") or path.name in TEST_SUPPORT:
            continue
        if "testing" in path.relative_to(APP_DIR).parts:
            continue
        yield path


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_first_four_migrations_are_mitxonline_s_and_the_import_s_own_come_after():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    names = sorted(name for app, name in loader.disk_migrations if app == APP)
    assert names[:4] == list(MITXONLINE_HISTORY)
    assert all(name[:4] > "0004" for name in names[4:])
    assert names[4:], "the import's own tables come in migrations after MITx Online's"
    # A straight line: each migration depends on the one before it.
    for before, after in itertools.pairwise(names):
        parents = {key for key in loader.disk_migrations[(APP, after)].dependencies}
        assert (APP, before) in parents, after


@pytest.mark.skipif(not real.DUMP.exists(), reason=real.MISSING)
def test_the_first_four_have_the_names_the_real_database_records():
    assert real.mitxonline_migration_names(APP) == list(MITXONLINE_HISTORY)


def reload_migrations():
    """Import the migration modules again, so their dependencies follow today's settings."""
    modules = {}
    for name in MITXONLINE_HISTORY:
        module_name = f"{APP}.migrations.{name}"
        sys.modules.pop(module_name, None)
        modules[name] = importlib.import_module(module_name)
    return modules


def test_inside_mitxonline_the_migrations_depend_on_mitxonline_s_named_migrations(settings):
    del settings.MICROMASTERS_IMPORT_STANDINS  # as inside MITx Online: no such setting
    try:
        for name, module in reload_migrations().items():
            assert set(module.Migration.dependencies) == MITXONLINE_HISTORY[name], name
    finally:
        reload_migrations()


def test_on_the_standins_the_migrations_depend_on_their_first_migrations():
    for name, module in reload_migrations().items():
        outside = {dep for dep in module.Migration.dependencies if dep[0] != APP}
        assert outside, name
        assert {migration for _, migration in outside} == {"__first__"}, name


@pytest.mark.skipif(not real.DUMP.exists(), reason=real.MISSING)
def test_every_mitxonline_migration_they_name_is_in_the_real_database():
    names = {
        (app, migration)
        for app in ("courses", "flexiblepricing", "wagtailcore")
        for migration in real.mitxonline_migration_names(app)
    }
    wanted = {dep for deps in MITXONLINE_HISTORY.values() for dep in deps if dep[0] != APP}
    assert wanted <= names


@pytest.fixture(scope="module")
def dump_database(django_db_setup, django_db_blocker):
    name = f"test_drop_in_{os.getpid()}"
    real.create_database(name)
    real.load_dump(name)
    yield name
    real.drop_database(name)


@pytest.mark.django_db
@pytest.mark.skipif(not real.DUMP.exists(), reason=real.MISSING)
def test_the_migrations_build_the_mapping_tables_exactly_as_mitxonline_has_them(dump_database):
    tables = [*MAPPING_TABLES, *(f"{table}_id_seq" for table in MAPPING_TABLES)]
    with real.admin_connect(dump_database) as conn:
        theirs = real.schema_snapshot(conn, tables)
    with real.admin_connect(connection.settings_dict["NAME"]) as conn:
        ours = real.schema_snapshot(conn, tables)
    assert None not in theirs.values()
    assert ours == theirs


@pytest.mark.parametrize("path", list(product_modules()), ids=lambda p: str(p.relative_to(APP_DIR)))
def test_product_code_reaches_mitxonline_apps_only_through_the_model_registry(path):
    reached = {
        module for module in imported_modules(path) if module.split(".")[0] in MITXONLINE_APPS
    }
    assert reached == set()


@pytest.mark.parametrize("path", list(product_modules()), ids=lambda p: str(p.relative_to(APP_DIR)))
def test_product_code_reads_no_environment_through_mitol_envs(path):
    # MITx Online's settings read each variable once through mitol.common.envs; a second read
    # raises, so the app reads its settings with getattr and os.environ (app_settings.py).
    assert "mitol.common.envs" not in set(imported_modules(path))


def test_the_models_point_at_wagtail_s_revision_and_mitxonline_s_tables():
    from micromasters_import import models

    revisions = [
        models.ProgramId._meta.get_field("program_certificate_revision"),
        models.CourseCertificateRevisionId._meta.get_field("certificate_page_revision"),
    ]
    assert {field.related_model._meta.label for field in revisions} == {"wagtailcore.Revision"}
    mappings = (models.CourseId, models.ProgramId, models.ProgramTierId)
    mappings += (models.CourseCertificateRevisionId,)
    assert {model._meta.db_table for model in mappings} == set(MAPPING_TABLES)
