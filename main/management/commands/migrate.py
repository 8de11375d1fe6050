"""Django's `migrate`, refusing a database that is not the kind MITXONLINE_TARGET says.

On a database MITx Online migrated itself it also refuses any plan that would touch a table
MITx Online owns, so the only thing it can ever create there is the import's own tables.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import connections
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor

from main.target_database import MITXONLINE, TargetMismatch, check_plan, check_target


class Command(migrate.Command):
    """Django's migrate with the target check in front; everything else is Django's own."""

    help = migrate.Command.help + (
        " Checks first that the database is the kind MITXONLINE_TARGET names "
        "(standins or mitxonline)."
    )

    def handle(self, *args, **options):
        """Check the target, then migrate as Django does."""
        connection = connections[options["database"]]
        target = getattr(settings, "MITXONLINE_TARGET", "standins")
        try:
            check_target(connection, target)
            if target == MITXONLINE:
                if options["run_syncdb"]:
                    raise TargetMismatch(
                        "--run-syncdb would create tables in MITx Online's database: leave it out"
                    )
                check_plan(self._plan(connection, options))
        except TargetMismatch as error:
            raise CommandError(str(error), returncode=2) from None
        return super().handle(*args, **options)

    def _plan(self, connection, options):
        """The migrations this invocation would apply, computed as Django's migrate does."""
        executor = MigrationExecutor(connection)
        graph = executor.loader.graph
        app_label, name = options["app_label"], options["migration_name"]
        if app_label and name:
            if name == "zero":
                targets = [(app_label, None)]
            else:
                try:
                    targets = [executor.loader.get_migration_by_prefix(app_label, name).key]
                except (KeyError, AmbiguityError):
                    return []  # Django's own migrate says what is wrong with the name.
        elif app_label:
            targets = [key for key in graph.leaf_nodes() if key[0] == app_label]
        else:
            targets = graph.leaf_nodes()
        return executor.migration_plan(targets)
