"""`./manage.py create_micromasters_demo`: a MicroMasters database and MITx Online side to import.

Trying the import (or benchmarking it) needs a MicroMasters database full of learners and a
MITx Online database with the accounts, catalogue and mappings an operator would have set up.
This command makes both, deterministically, at any scale: the source as its own database on
the MITx Online server (to be mounted with `setup_micromasters_fdw`, as in production), and
the MITx Online side in the default database. It then says which MICROMASTERS_DATABASE_URL
to use, with the password masked.

It writes fake learners, so before writing anything it refuses (exit 2) a default database
that looks real, and a source database, or reader role, it did not make (see `demo.guard`).
"""

import os
import time

from django.core.management.base import BaseCommand, CommandError

from micromasters_import.demo import database, guard, source, target
from micromasters_import.demo.pseudorandom import MAX_SEED

READER_PASSWORD_ENV = "DEMO_READER_PASSWORD"


class Command(BaseCommand):
    """Build the demo source database and the MITx Online objects the import needs."""

    help = (
        "Create a MicroMasters-shaped demo database next to the MITx Online database, filled "
        "with deterministic fake learners, and the matching MITx Online side (linked users, "
        "programs, courses, existing runs, products, price tiers, ID mappings)."
    )

    def add_arguments(self, parser):
        """Scale, seed, where the source goes, and who may read it."""
        parser.add_argument(
            "--users",
            type=int,
            default=2000,
            help="MicroMasters learners to generate (default: %(default)s); every other "
            "table scales with it, e.g. about 5 cached enrollments per learner.",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Seed of the fake data (default: %(default)s)."
        )
        parser.add_argument(
            "--source-database",
            default="micromasters_demo",
            help="Name of the demo MicroMasters database, on the same server as the default "
            "database (default: %(default)s).",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Drop and rebuild the demo database if a previous run made it. A database "
            "this command did not make is never touched.",
        )
        parser.add_argument(
            "--reader",
            metavar="ROLE",
            help="Also create (or update) this read-only login role, with the password in "
            f"${READER_PASSWORD_ENV}, and let it read the demo database: the role to put in "
            "MICROMASTERS_DATABASE_URL.",
        )
        parser.add_argument(
            guard.OVERRIDE_FLAG,
            action="store_true",
            help="Write the demo's fake learners even into a default database that looks real: "
            "one inside MITx Online, or holding users, programs, courses or orders the demo did "
            "not make. Without it such a database is refused and nothing is written.",
        )
        parser.add_argument(
            "--check-only",
            action="store_true",
            help="Only check that the demo may write where these options say (exit 2 if not), "
            "and write nothing; works before `migrate`.",
        )

    def check_targets(self, server, name, replace, reader, allow_real_database):
        """Refuse, before any write, a real-looking default database, source or reader role."""
        refusal = guard.refusal()
        if refusal and not allow_real_database:
            raise CommandError(refusal, returncode=2)
        if refusal:
            self.stderr.write(
                f'Writing demo data into database "{server.dbname}" anyway ({guard.OVERRIDE_FLAG}).'
            )
        try:
            database.check_database(server, name, replace)
            if reader:
                database.check_reader(server, reader)
        except database.DemoDatabaseError as error:
            raise CommandError(str(error), returncode=2) from None

    def handle(self, *args, **options):
        """Check every place it writes to, then build the source, then the MITx Online side."""
        self.verbosity = options["verbosity"]
        users, seed = options["users"], options["seed"]
        name, reader = options["source_database"], options["reader"]
        if users < 1:
            raise CommandError("--users must be at least 1", returncode=2)
        if not 0 <= seed <= MAX_SEED:
            raise CommandError(f"--seed must be between 0 and {MAX_SEED}", returncode=2)
        password = os.environ.get(READER_PASSWORD_ENV) if reader else None
        if reader and not password:
            raise CommandError(
                f"--reader needs the role's password in ${READER_PASSWORD_ENV}", returncode=2
            )
        server = database.Server.from_settings()
        self.check_targets(server, name, options["replace"], reader, options["allow_real_database"])
        if options["check_only"]:
            self.stdout.write(
                f'Checked: the demo may fill database "{server.dbname}" and (re)create "{name}".'
            )
            return
        started = time.monotonic()
        try:
            action = database.recreate_database(
                server, name, options["replace"], f"{users} users, seed {seed}"
            )
        except database.DemoDatabaseError as error:
            raise CommandError(str(error), returncode=2) from None
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"MicroMasters demo database {name} {action}; generating {users:,} learners "
                f"(seed {seed}):"
            )
        )

        def progress(label, seconds):
            # each phase as it ends: at 200,000 learners the whole build takes half a minute
            if self.verbosity >= 1:
                self.stdout.write(f"  {label:<40} {seconds:9.2f}s")
                self.stdout.flush()

        with server.connect(name) as conn, conn.cursor() as cursor:
            counts = source.build_source(cursor, "public", users, seed, progress=progress)
            conn.commit()
        source_seconds = time.monotonic() - started
        for table, count in counts.items():
            if count:
                self.stdout.write(f"  {table:<40} {count:>10,}")
        self.stdout.write(
            self.style.SUCCESS(f"  {sum(counts.values()):,} rows in {source_seconds:.1f}s")
        )
        if reader:
            try:
                state = database.grant_reader(server, name, reader, password)
            except database.DemoDatabaseError as error:
                raise CommandError(str(error), returncode=2) from None
            self.stdout.write(f"  Read-only role {reader}: {state}, may read {name}")

        started = time.monotonic()
        self.stdout.write(
            self.style.MIGRATE_HEADING(f"MITx Online side in database {server.dbname}:")
        )
        created = target.build_target(users, seed)
        target_seconds = time.monotonic() - started
        for table, count in created.items():
            self.stdout.write(f"  {table:<48} {count:>8,} created")
        note = "" if any(created.values()) else " (everything was already there)"
        self.stdout.write(self.style.SUCCESS(f"  done in {target_seconds:.1f}s{note}"))

        url = server.masked_url(
            name, user=reader, has_password=bool(password if reader else server.password)
        )
        self.stdout.write(self.style.MIGRATE_HEADING("Next:"))
        self.stdout.write(f"  export MICROMASTERS_DATABASE_URL={url}")
        self.stdout.write("  ./manage.py setup_micromasters_fdw")
        self.stdout.write("  ./manage.py import_micromasters_data --all")
