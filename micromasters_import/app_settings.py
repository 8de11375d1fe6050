"""The settings this app reads, each with a default that works inside MITx Online.

The app ships in two places: this project, where `users`, `courses`, `ecommerce`,
`flexiblepricing`, `b2b` and `wagtailcore` are small stand-ins with a history of their own,
and MITx Online itself, whose settings know nothing of the import. So every setting is read
here, with `getattr` and a default, and never through `mitol.common.envs` (which allows one
read per variable, and MITx Online's settings already make theirs).
"""

import os

from django.conf import settings

DEFAULT_SOURCE_SCHEMA = "micromasters"


def uses_standins() -> bool:
    """Whether MITx Online's apps are this project's stand-ins rather than MITx Online's own.

    True only where a project says so (`MICROMASTERS_IMPORT_STANDINS = True`): inside MITx
    Online the setting is absent and the app assumes the real apps.
    """
    return bool(getattr(settings, "MICROMASTERS_IMPORT_STANDINS", False))


def mitxonline_dependency(app_label: str, migration: str) -> tuple[str, str]:
    """The MITx Online migration one of this app's migrations must come after.

    Inside MITx Online it is the named migration, as MITx Online's own copy of this app
    declared it. The stand-ins have none of MITx Online's migration names, so there the
    dependency is on the stand-in app's first migration (Django ignores it where the stand-in
    is left unmigrated, as on a real MITx Online database).
    """
    return (app_label, "__first__") if uses_standins() else (app_label, migration)


def source_database_url() -> str | None:
    """Where the MicroMasters database is: the setting, else the environment variable."""
    return getattr(settings, "MICROMASTERS_DATABASE_URL", None) or os.environ.get(
        "MICROMASTERS_DATABASE_URL"
    )


def source_schema() -> str:
    """The schema MicroMasters is mounted as: `MICROMASTERS_SCHEMA`, else `micromasters`."""
    return (
        getattr(settings, "MICROMASTERS_SCHEMA", None)
        or os.environ.get("MICROMASTERS_SCHEMA")
        or DEFAULT_SOURCE_SCHEMA
    )
