"""Fixtures that give micromasters_import tests a MicroMasters source schema to read."""

import pytest
from django.db import connection

from micromasters_import.source import factories
from micromasters_import.source.tables import create_source_schema, empty_source_tables


@pytest.fixture(scope="session")
def micromasters_schema(django_db_setup, django_db_blocker):
    """Build the `micromasters` schema (plain tables) in the test database, once per session.

    Dropped and rebuilt every session, so that --reuse-db never keeps tables from an older
    schema.sql. Tests do not use this directly: they request `mm` or `mm_transactional`.
    """
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        create_source_schema(cursor, factories.SCHEMA, drop=True)
    return factories.SCHEMA


@pytest.fixture
def mm(db, micromasters_schema):
    """The source schema name, for a test whose source rows roll back with its transaction."""
    return micromasters_schema


@pytest.fixture
def mm_transactional(transactional_db, micromasters_schema):
    """The source schema name, for a test that commits: source rows are truncated after it.

    Django's flush only empties the tables it has models for, so without this a committed
    source row would leak into every later test.
    """
    yield micromasters_schema
    with connection.cursor() as cursor:
        empty_source_tables(cursor, micromasters_schema)
