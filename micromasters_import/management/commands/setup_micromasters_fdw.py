"""`./manage.py setup_micromasters_fdw`: mount MicroMasters into MITx Online with postgres_fdw.

Idempotent, like `migrate`: run it again after a password rotation or a host change and the
mount is brought up to date. The connection comes only from MICROMASTERS_DATABASE_URL in the
environment (never from the command line, where passwords end up in shell history and `ps`),
and the password is shown as `***` everywhere. The logic lives in `micromasters_import.mount`;
this module only parses options, manages the transaction and prints.

Exit codes: 0 done (or `--check` found everything), 2 a configuration problem or, with
`--check`, something missing.
"""

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections, transaction

from micromasters_import import app_settings, mount

CONFIG_ERROR = 2


class Command(BaseCommand):
    """Mount, check or remove the MicroMasters mount; see the module docstring."""

    help = (
        "Mount the MicroMasters database (MICROMASTERS_DATABASE_URL, from the environment) "
        "into a local schema with postgres_fdw, tuned for bulk reads. Safe to rerun."
    )

    def add_arguments(self, parser):
        """Options for names and tuning; the connection itself only comes from the environment."""
        parser.add_argument(
            "--server-name",
            default=mount.DEFAULT_SERVER,
            help="Name of the foreign server (default: %(default)s).",
        )
        parser.add_argument(
            "--schema",
            default=app_settings.source_schema(),
            help="Local schema for the foreign tables (default: MICROMASTERS_SCHEMA, %(default)s).",
        )
        parser.add_argument(
            "--remote-schema",
            default=mount.DEFAULT_REMOTE_SCHEMA,
            help="Schema of the MicroMasters tables on the remote (default: %(default)s).",
        )
        parser.add_argument(
            "--fetch-size",
            type=int,
            default=mount.FAST_FETCH_SIZE,
            help="Rows per remote fetch (default: %(default)s; postgres_fdw's own is 100).",
        )
        parser.add_argument(
            "--no-remote-estimate",
            action="store_false",
            dest="remote_estimate",
            help="Do not ask the remote for row estimates (the slow postgres_fdw default; "
            "for benchmarks).",
        )
        parser.add_argument(
            "--connect-timeout",
            type=int,
            default=mount.DEFAULT_CONNECT_TIMEOUT,
            help="Seconds to wait for the remote (default: %(default)s).",
        )
        parser.add_argument(
            "--allow-password-in-server-log",
            action="store_true",
            help="Mount even when a server setting this role may not turn off would record "
            "the MicroMasters password (pgaudit, debug_print_*, pg_stat_statements, or, for a "
            "role without TEMP, statement logging); by default the mount is refused.",
        )
        parser.add_argument(
            "--database",
            default="default",
            help="The MITx Online database alias to mount into (default: %(default)s).",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--refresh",
            action="store_true",
            help="Drop and re-import the foreign tables (after a MicroMasters schema change).",
        )
        mode.add_argument(
            "--drop",
            action="store_true",
            help="Remove the schema, the user mapping and the server (not the extension).",
        )
        mode.add_argument(
            "--check",
            action="store_true",
            help="Report what is mounted, the remote version and key row counts; exit 2 if "
            "a table the import needs is missing.",
        )

    def handle(self, *args, **options):
        """Dispatch to mount, drop or check; turn every failure into a one-line error."""
        if options["fetch_size"] < 1 or options["connect_timeout"] < 1:
            raise CommandError(
                "--fetch-size and --connect-timeout must be positive", returncode=CONFIG_ERROR
            )
        mount_options = mount.MountOptions(
            server=options["server_name"],
            schema=options["schema"],
            remote_schema=options["remote_schema"],
            fetch_size=options["fetch_size"],
            remote_estimate=options["remote_estimate"],
            connect_timeout=options["connect_timeout"],
        )
        self.using = options["database"]
        self.source = None
        try:
            connections[self.using].ensure_connection()
        except Exception as error:
            # Not a MicroMasters problem: say so, or the operator fixes the wrong URL.
            raise CommandError(
                self._scrub(f"cannot connect to the MITx Online database ({self.using}): {error}"),
                returncode=CONFIG_ERROR,
            ) from None
        try:
            if options["drop"]:
                self._drop(mount_options)
            elif options["check"]:
                self._check(mount_options)
            else:
                self._mount(
                    mount_options, options["refresh"], options["allow_password_in_server_log"]
                )
        except mount.FdwError as error:
            raise CommandError(self._scrub(str(error)), returncode=CONFIG_ERROR) from None
        except (psycopg.Error, DatabaseError) as error:
            cause = error.__cause__ if isinstance(error.__cause__, psycopg.Error) else error
            message = mount.explain(cause, self.source, mount_options.server, self._role())
            raise CommandError(self._scrub(message), returncode=CONFIG_ERROR) from None

    # --- helpers ---

    def _cursor(self):
        """A raw psycopg cursor: statements carrying the password bypass Django's query log."""
        connection = connections[self.using]
        connection.ensure_connection()
        return connection.connection.cursor()

    def _role(self) -> str:
        try:
            with self._cursor() as cursor:
                cursor.execute("SELECT current_user")
                return cursor.fetchone()[0]
        except Exception:
            return "the current role"

    def _scrub(self, text: str) -> str:
        """Mask the MicroMasters password, and the MITx Online one, in anything we print."""
        secrets = self.source.secrets() if self.source else []
        local = settings.DATABASES.get(self.using, {}).get("PASSWORD")
        return mount.scrub(text, [*secrets, local] if local else secrets)

    def _source(self, required: bool):
        url = app_settings.source_database_url()
        if not url and not required:
            return None
        self.source = mount.parse_url(url)
        return self.source

    def _steps(self, steps):
        for label, outcome in steps:
            self.stdout.write(f"  {label}... " + self.style.SUCCESS(self._scrub(outcome)))

    # --- modes ---

    def _mount(self, options: mount.MountOptions, refresh: bool, allow_password_in_log: bool):
        source = self._source(required=True)
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Mounting MicroMasters {source.masked()} into schema {options.schema}:"
            )
        )
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            result = mount.mount(
                cursor,
                source,
                options,
                refresh=refresh,
                allow_password_in_server_log=allow_password_in_log,
            )
        self._steps(result.steps)
        for accepted in result.accepted:
            self.stdout.write(
                self.style.WARNING(
                    f"Warning (--allow-password-in-server-log): {accepted}: the MicroMasters "
                    "password was recorded there"
                )
            )
        if result.missing:
            raise mount.FdwError(
                f"mounted, but the remote schema {options.remote_schema} lacks (or "
                f"{source.user} cannot see) table(s) the import needs: "
                f"{', '.join(result.missing)}; check --remote-schema and the grants"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"MicroMasters is mounted in schema {options.schema} "
                f"({len(mount.required_tables())} tables, {result.remote.version})."
            )
        )

    def _drop(self, options: mount.MountOptions):
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Removing the MicroMasters mount (schema {options.schema}, "
                f"server {options.server}):"
            )
        )
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            steps = mount.unmount(cursor, options)
        self._steps(steps)
        self.stdout.write(self.style.SUCCESS("Done; the postgres_fdw extension was kept."))

    def _check(self, options: mount.MountOptions):
        source = self._source(required=False)
        role = self._role()
        with transaction.atomic(using=self.using), self._cursor() as cursor:
            report = mount.check(cursor, options, source, role)
            transaction.set_rollback(True, using=self.using)
        write = self.stdout.write
        write(self.style.MIGRATE_HEADING("MicroMasters mount:"))
        if source is not None:
            write(f"  MICROMASTERS_DATABASE_URL: {source.masked()}")
        if report.server is not None:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(report.server.items()))
            write(f"  Server {options.server}: {self._scrub(shown)}")
        if report.mapping is not None:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(report.mapping.items()))
            write(f"  User mapping for {role}: {self._scrub(shown) or '(no options visible)'}")
        if report.remote is not None:
            write(f"  Remote: {report.remote.version}, schema {report.remote_schema}")
        foreign = sorted(t for t, rel in report.tables.items() if rel["kind"] == "f")
        write(f"  Schema {options.schema}: {len(foreign)} foreign table(s)")
        for table in foreign:
            rel = report.tables[table]
            remote = rel["options"].get("table_name", table)
            write(f"    {table:<40} -> {rel['server']}.{report.remote_schema}.{remote}")
        if report.counts:
            write(self.style.MIGRATE_HEADING("Rows in key tables:"))
            for table, count in report.counts.items():
                shown = f"{count:,}" if isinstance(count, int) else self.style.ERROR(count)
                write(f"  {table:<40} {shown}")
        for warning in report.warnings:
            write(self.style.WARNING(f"Warning: {self._scrub(warning)}"))
        if report.problems:
            for problem in report.problems:
                write(self.style.ERROR(f"Problem: {self._scrub(problem)}"))
            missing = report.missing + report.gone
            summary = (
                f"{len(missing)} table(s) the import needs are missing: {', '.join(missing)}"
                if missing
                else "the mount is not usable"
            )
            raise mount.FdwError(f"{summary} ({len(report.problems)} problem(s) above)")
        write(
            self.style.SUCCESS(
                f"All {len(mount.required_tables())} tables the import needs are mounted."
            )
        )
