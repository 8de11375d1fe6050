"""Which MITx Online database `migrate` is about to write to, checked before it writes.

This project runs on two kinds of database. Its own stand-ins (`MITXONLINE_TARGET=standins`,
the default), whose tables its migrations create; and a database that MITx Online migrated
itself (`MITXONLINE_TARGET=mitxonline`), where every MITx Online app has MITx Online's own
migration history and the only thing this project may add is the import's own tables.
Running the wrong kind of `migrate` on either is how a production database gets
half-migrated, so the choice is checked against what the database records, and a mismatch
stops `migrate` before anything is created.
"""

from django.conf import settings
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

STANDINS = "standins"
MITXONLINE = "mitxonline"
TARGETS = (STANDINS, MITXONLINE)

# The first migration of MITx Online's users app (this project's stand-in starts elsewhere):
# recorded as applied, it says the database was migrated by MITx Online.
MITXONLINE_MARK = ("users", "0001_add_user")
STANDIN_MARK = ("users", "0001_initial")
# MITx Online's own history of this app: the import's tables come after these.
MITXONLINE_IMPORT_MIGRATIONS = (
    "0001_micromasters_pk_mapping",
    "0002_programtiers_pk_mapping",
    "0003_course_certificate_id_mapping",
    "0004_add_program_certificate_revision",
)
IMPORT_APP = "micromasters_import"


class TargetMismatch(Exception):
    """The database is not the kind `MITXONLINE_TARGET` says: a one-line reason and a fix."""


def check_target(connection, target: str) -> None:
    """Refuse a database that does not match `target`; read-only, so safe to call first."""
    if target not in TARGETS:
        raise TargetMismatch(
            f"MITXONLINE_TARGET is {target!r}: set it to {STANDINS!r} (this project's own copies "
            f"of MITx Online's tables) or {MITXONLINE!r} (a database MITx Online migrated)"
        )
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    recorded = MigrationRecorder(connection).applied_migrations() if tables else {}
    migrated_by_mitxonline = MITXONLINE_MARK in recorded
    if target == STANDINS:
        if migrated_by_mitxonline:
            raise TargetMismatch(
                "DATABASE_URL is a database MITx Online migrated (users.0001_add_user is "
                "applied) but MITXONLINE_TARGET is 'standins': set MITXONLINE_TARGET=mitxonline "
                "so that migrate creates only the import's own tables"
            )
        if "users_user" in tables and STANDIN_MARK not in recorded:
            raise TargetMismatch(
                "DATABASE_URL has a users_user table that this project's migrations did not "
                "create: point DATABASE_URL at an empty database, or set "
                "MITXONLINE_TARGET=mitxonline if it is MITx Online's"
            )
        check_history_is_current(recorded)
        return
    if not migrated_by_mitxonline:
        raise TargetMismatch(
            "DATABASE_URL is not a database MITx Online migrated (users.0001_add_user is not "
            "applied) but MITXONLINE_TARGET is 'mitxonline': point DATABASE_URL at MITx "
            "Online's database, or unset MITXONLINE_TARGET to build this project's stand-ins"
        )
    for name in MITXONLINE_IMPORT_MIGRATIONS:
        if (IMPORT_APP, name) not in recorded:
            raise TargetMismatch(
                f"MITx Online's database has not applied {IMPORT_APP}.{name}: run MITx "
                f"Online's own `./manage.py migrate {IMPORT_APP} "
                f"{MITXONLINE_IMPORT_MIGRATIONS[-1][:4]}` first"
            )


def check_plan(plan) -> None:
    """On MITx Online's database, refuse a plan that would apply anything but the import's.

    MITx Online owns every other app's tables and history; a migration of theirs that this
    project's installed packages have and MITx Online's database lacks (say, a newer
    django-reversion) must be applied by MITx Online, not by this tool.
    """
    for migration, backwards in plan:
        owned = migration.app_label == IMPORT_APP and migration.name[:4] > "0004"
        if backwards or not owned:
            verb = "unapply" if backwards else "apply"
            raise TargetMismatch(
                f"migrate would {verb} {migration.app_label}.{migration.name} on MITx Online's "
                f"database, which only MITx Online may change: bring MITx Online (or this "
                f"tool's installed packages) to the same version first"
            )


def check_history_is_current(recorded) -> None:
    """Refuse stand-ins built by an older migration history of this project.

    Their tables exist but under migration names this project no longer has, so Django would
    try to create them again and fail halfway. Such databases (demo, development) are
    disposable: the way out is to rebuild them.
    """
    ours = {*getattr(settings, "STANDIN_APPS", ()), IMPORT_APP}
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    stale = sorted(key for key in recorded if key[0] in ours and key not in known)
    if stale:
        app, name = stale[0]
        raise TargetMismatch(
            f"DATABASE_URL holds stand-ins built by an older version of this project "
            f"({app}.{name} is no longer one of its migrations): rebuild that database from "
            f"an empty one (scripts/demo rebuilds its own)"
        )
