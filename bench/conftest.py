"""The benchmark's tests use the import's own fixtures: a MicroMasters source schema."""

from micromasters_import.conftest import micromasters_schema, mm_transactional  # noqa: F401
