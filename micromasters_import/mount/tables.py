"""The foreign tables: importing the ones the import reads, checking them, and removing them.

The mount is made in one transaction (the caller wraps `mount` in `atomic`), so a wrong
password or an unreachable host leaves the previous, working mount untouched. What is only
looked at on the remote (its version, its table list) is read through throwaway foreign
tables inside a savepoint that is rolled back, so checking leaves nothing behind. The
connection to MicroMasters is made by the MITx Online database server, not by the machine
that runs this code: host names are resolved there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql

from micromasters_import.engine import staging
from micromasters_import.mount.password import PasswordChannel, prepare_password_channel
from micromasters_import.mount.server import (
    DEFAULT_REMOTE_SCHEMA,
    DEFAULT_SERVER,
    FAST_FETCH_SIZE,
    MountOptions,
    _options,
    current_role,
    ensure_extension,
    ensure_server,
    ensure_user_mapping,
    mapping_options,
    server_info,
)
from micromasters_import.mount.source_url import (
    FdwError,
    SourceURL,
    configured_secrets,
    database_cause,
    explain,
    is_connection_failure,
    scrub,
)

# The tables whose row counts `--check` shows: enough to tell an empty or wrong database.
KEY_TABLES = (
    "auth_user",
    "social_auth_usersocialauth",
    "dashboard_cachedenrollment",
    "grades_finalgrade",
    "grades_micromasterscoursecertificate",
    "ecommerce_order",
)


# Schemas a mount must never go into (or be dropped from): they hold other things.
RESERVED_SCHEMAS = {"public", "information_schema", "pg_catalog", "pg_toast"}

PROBE_SAVEPOINT = "micromasters_fdw_probe"


def required_tables() -> list[str]:
    """Every MicroMasters table the import needs mounted, sorted.

    The tables staging copies, plus those preflight and step 001 look for (`courses_program`,
    `courses_course`) and `auth_user`, which `--check` counts. Derived from staging so a new
    staged table is mounted without editing this module.
    """
    sources = {table.source for table in staging.STAGED_TABLES.values()}
    return sorted(sources | set(staging.KNOWN_SOURCE_COLUMNS) | set(KEY_TABLES))


@dataclass(frozen=True)
class Mount:
    """Where an existing mount points, read from the catalog (the password is never read)."""

    server: str
    source: SourceURL
    role: str


def mount_of(cursor, schema: str) -> Mount | None:
    """The foreign server behind the mounted schema, its options and the mapped user.

    The import and the admin read MicroMasters through a mount made earlier, so when that
    fails, this is what names the host, database and user in the explanation. None when the
    schema holds no foreign table (plain tables cannot fail to connect).
    """
    cursor.execute(
        """
        SELECT s.srvname, s.srvoptions, current_user
          FROM pg_foreign_table f
          JOIN pg_class c ON c.oid = f.ftrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_foreign_server s ON s.oid = f.ftserver
         WHERE n.nspname = %s
         GROUP BY s.srvname, s.srvoptions
         ORDER BY count(*) DESC, s.srvname
         LIMIT 1
        """,
        [schema],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    server, options, role = row[0], _options(row[1]), row[2]
    mapped = mapping_options(cursor, server) or {}
    port = options.get("port", "5432")
    source = SourceURL(
        scheme="postgres",
        host=options.get("host", "localhost"),
        port=int(port) if port.isdigit() else 5432,
        dbname=options.get("dbname", "?"),
        user=mapped.get("user") or role,
    )
    return Mount(server, source, role)


def explain_mount_error(error: Exception, mount: Mount | None) -> str:
    """One line saying why reading MicroMasters through an existing mount failed.

    postgres_fdw's first line is only `could not connect to server "..."`, the same for a
    refused password, a missing database and an unreachable host; the cause is in the
    detail. A connection failure is explained like `setup_micromasters_fdw` explains it,
    plus where the fix goes (the mount keeps what setup stored); any other error keeps its
    first line. The password is scrubbed either way.
    """
    secrets = configured_secrets()
    cause = database_cause(error)
    if not is_connection_failure(cause):
        lines = str(error).strip().splitlines()
        return scrub(lines[0] if lines else error.__class__.__name__, secrets)
    message = explain(
        cause,
        mount.source if mount else None,
        mount.server if mount else DEFAULT_SERVER,
        mount.role if mount else "",
    )
    return scrub(
        f"{message} (the mount uses what ./manage.py setup_micromasters_fdw stored: "
        "fix MICROMASTERS_DATABASE_URL, then re-run it)",
        secrets,
    )


def schema_exists(cursor, schema: str) -> bool:
    """Whether the local schema exists."""
    cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
    return cursor.fetchone() is not None


def local_relations(cursor, schema: str) -> dict[str, dict]:
    """Every relation in the local schema: its kind and, for foreign tables, where it points.

    Lets the mount skip what is already there, `--refresh` drop only foreign tables, and
    `--drop` refuse a schema that holds real data.
    """
    cursor.execute(
        """
        SELECT c.relname, c.relkind, s.srvname, f.ftoptions
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_foreign_table f ON f.ftrelid = c.oid
          LEFT JOIN pg_foreign_server s ON s.oid = f.ftserver
         WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
         ORDER BY c.relname
        """,
        [schema],
    )
    return {
        name: {"kind": kind, "server": server, "options": _options(options)}
        for name, kind, server, options in cursor.fetchall()
    }


# --- the remote probe -------------------------------------------------------------------


@dataclass
class RemoteInfo:
    """What a probe learned about the remote database."""

    version: str
    tables: set[str]


def probe_remote(cursor, server: str, schema: str, remote_schema: str) -> RemoteInfo:
    """Ask the remote for its version and table list, leaving nothing behind.

    postgres_fdw cannot run arbitrary remote SQL, but a foreign table may point at any remote
    relation, including `pg_catalog.pg_settings` and `information_schema.tables`. Those two
    throwaway tables are created in the mount schema inside a savepoint that is always
    rolled back. `information_schema.tables` lists only what the mapped user may use, which
    is what the import can read. Must run inside a transaction.
    """
    cursor.execute(sql.SQL("SAVEPOINT {}").format(sql.Identifier(PROBE_SAVEPOINT)))
    try:
        settings_table = sql.Identifier(schema, "_mm_fdw_probe_settings")
        tables_table = sql.Identifier(schema, "_mm_fdw_probe_tables")
        cursor.execute(
            sql.SQL(
                "CREATE FOREIGN TABLE {} (name text, setting text) SERVER {} "
                "OPTIONS (schema_name 'pg_catalog', table_name 'pg_settings')"
            ).format(settings_table, sql.Identifier(server))
        )
        cursor.execute(
            sql.SQL(
                "CREATE FOREIGN TABLE {} (table_schema name, table_name name) SERVER {} "
                "OPTIONS (schema_name 'information_schema', table_name 'tables')"
            ).format(tables_table, sql.Identifier(server))
        )
        cursor.execute(
            sql.SQL("SELECT setting FROM {} WHERE name = 'server_version'").format(settings_table)
        )
        row = cursor.fetchone()
        version = f"PostgreSQL {row[0]}" if row else "PostgreSQL (unknown version)"
        cursor.execute(
            sql.SQL("SELECT table_name::text FROM {} WHERE table_schema = %s").format(tables_table),
            [remote_schema],
        )
        tables = {name for (name,) in cursor.fetchall()}
        return RemoteInfo(version, tables)
    finally:
        cursor.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(sql.Identifier(PROBE_SAVEPOINT)))
        cursor.execute(sql.SQL("RELEASE SAVEPOINT {}").format(sql.Identifier(PROBE_SAVEPOINT)))


def check_schema_name(schema: str) -> None:
    """Refuse schemas that hold other things, so a mount or `--drop` cannot clobber them."""
    if schema in RESERVED_SCHEMAS or schema.startswith("pg_"):
        raise FdwError(f'refusing to use schema "{schema}": mount MicroMasters in its own schema')


def import_tables(cursor, options: MountOptions, refresh: bool) -> dict[str, list[str]]:
    """IMPORT FOREIGN SCHEMA the required tables that are not mounted yet (all, with refresh).

    Only the tables the import needs are mounted: fewer grants for the MicroMasters user,
    and nothing a step could read by mistake. Plain tables of the same name (a test or demo
    copy) are never dropped or shadowed. IMPORT silently skips names the remote lacks, so the
    result says what is still missing.
    """
    wanted = required_tables()
    present = local_relations(cursor, options.schema)
    dropped = []
    if refresh:
        for table in wanted:
            if present.get(table, {}).get("kind") == "f":
                cursor.execute(
                    sql.SQL("DROP FOREIGN TABLE {}").format(sql.Identifier(options.schema, table))
                )
                dropped.append(table)
                del present[table]
    to_import = [table for table in wanted if table not in present]
    if to_import:
        cursor.execute(
            sql.SQL("IMPORT FOREIGN SCHEMA {} LIMIT TO ({}) FROM SERVER {} INTO {}").format(
                sql.Identifier(options.remote_schema),
                sql.SQL(", ").join(sql.Identifier(t) for t in to_import),
                sql.Identifier(options.server),
                sql.Identifier(options.schema),
            )
        )
    after = local_relations(cursor, options.schema)
    return {
        "imported": [t for t in to_import if t in after],
        "kept": [t for t in wanted if t in present and present[t]["kind"] == "f"],
        "plain": [t for t in wanted if t in present and present[t]["kind"] != "f"],
        "missing": [t for t in wanted if t not in after],
        "refreshed": dropped,
    }


@dataclass
class MountResult:
    """What `mount` did, step by step, for the command to print after the commit."""

    steps: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    remote: RemoteInfo | None = None
    accepted: list[str] = field(default_factory=list)  # see PasswordChannel


def mount(
    cursor,
    source: SourceURL,
    options: MountOptions,
    refresh: bool = False,
    allow_password_in_server_log: bool = False,
) -> MountResult:
    """Create or update the whole mount, then prove it works with real remote reads.

    Must run inside one transaction (the caller's `atomic`), so any failure, including the
    final verification, rolls everything back. The verification matters because IMPORT is
    skipped when all tables exist, and a foreign table says nothing about whether the
    password still works: only a read through it does. Before anything is created, the
    settings that could record the password are switched off or the mount is refused
    (`prepare_password_channel`).
    """
    check_schema_name(options.schema)
    role, is_superuser = current_role(cursor)
    if not is_superuser and not source.password:
        raise FdwError(
            f'MICROMASTERS_DATABASE_URL has no password, and the MITx Online role "{role}" is '
            "not a superuser: postgres_fdw only lets non-superusers connect with a password "
            "(password_required). Add the password to the URL, or have a superuser set "
            f"password_required 'false' on the user mapping for \"{role}\""
        )
    channel = PasswordChannel()
    if source.password:
        channel = prepare_password_channel(cursor, role, allow_password_in_server_log)
    result = MountResult(accepted=channel.accepted)
    result.steps.append(("Extension postgres_fdw", ensure_extension(cursor)))
    result.steps.append((f"Server {options.server}", ensure_server(cursor, source, options)))
    mapping = ensure_user_mapping(cursor, source, options.server, channel)
    result.steps.append((f"User mapping for {role} as {source.user}", mapping))
    existed = schema_exists(cursor, options.schema)
    cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(options.schema)))
    result.steps.append((f"Schema {options.schema}", "exists" if existed else "created"))
    tables = import_tables(cursor, options, refresh)
    reimported = [t for t in tables["imported"] if t in tables["refreshed"]]
    new = [t for t in tables["imported"] if t not in tables["refreshed"]]
    summary = [f"{len(new)} imported"] if new or not reimported else []
    if reimported:
        summary.append(f"{len(reimported)} re-imported")
    kept = len(tables["kept"])
    if kept:
        summary.append(f"{kept} already mounted")
    if tables["plain"]:
        summary.append("plain tables left alone: " + ", ".join(tables["plain"]))
    result.steps.append((f"Foreign tables from {options.remote_schema}", ", ".join(summary)))
    result.remote = probe_remote(cursor, options.server, options.schema, options.remote_schema)
    # Foreign tables kept from an earlier run may point at remote tables that are gone now.
    relations = local_relations(cursor, options.schema)
    gone = [
        t
        for t in tables["kept"]
        if relations[t]["options"].get("schema_name") == options.remote_schema
        and relations[t]["options"].get("table_name", t) not in result.remote.tables
    ]
    readable = [
        t
        for t in required_tables()
        if t not in tables["missing"] and t not in tables["plain"] and t not in gone
    ]
    if readable:
        cursor.execute(
            sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(options.schema, readable[0]))
        )
        cursor.fetchall()
    result.steps.append(
        (
            "Verify",
            f"{result.remote.version} answers"
            + (f"; {options.schema}.{readable[0]} readable" if readable else ""),
        )
    )
    result.missing = sorted(tables["missing"] + gone)
    return result


# --- checking ---------------------------------------------------------------------------


@dataclass
class CheckReport:
    """What is mounted and whether it is enough for the import; `problems` empty means OK."""

    server: dict[str, str] | None = None
    mapping: dict[str, str] | None = None
    tables: dict[str, dict] = field(default_factory=dict)
    remote: RemoteInfo | None = None
    remote_schema: str = DEFAULT_REMOTE_SCHEMA
    counts: dict[str, int | str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _count(cursor, schema: str, table: str) -> int:
    """Count rows through the mount in a savepoint, so one failing table spoils nothing else."""
    cursor.execute("SAVEPOINT micromasters_fdw_count")
    try:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        count = cursor.fetchone()[0]
    except Exception:
        cursor.execute("ROLLBACK TO SAVEPOINT micromasters_fdw_count")
        raise
    cursor.execute("RELEASE SAVEPOINT micromasters_fdw_count")
    return count


def check(
    cursor, options: MountOptions, source: SourceURL | None = None, role: str = ""
) -> CheckReport:
    """Report the server, mapping, foreign tables, remote version, key row counts and gaps.

    Read-only in effect: the remote probe is rolled back, and the caller rolls back the rest.
    A table counts as missing when it is not mounted locally, and as gone when it is mounted
    but the remote no longer has it (or no longer lets the mapped user see it). Connection
    failures are raised; the caller explains them.
    """
    report = CheckReport(remote_schema=options.remote_schema)
    found = server_info(cursor, options.server)
    if found is None:
        report.problems.append(
            f'server "{options.server}" does not exist: run ./manage.py setup_micromasters_fdw'
        )
    else:
        report.server = found[1]
        report.mapping = mapping_options(cursor, options.server)
        if report.mapping is None:
            report.problems.append(f'no user mapping for "{role}" on "{options.server}"')
        fetch_size = found[1].get("fetch_size", "100")
        if (
            found[1].get("use_remote_estimate") != "true"
            or not fetch_size.isdigit()
            or int(fetch_size) < FAST_FETCH_SIZE
        ):
            report.warnings.append(
                "the server is not tuned for bulk reads (fetch_size 10000 and "
                "use_remote_estimate true were measured about 50x faster; "
                "rerun setup_micromasters_fdw without --fetch-size/--no-remote-estimate)"
            )
        if source is not None:
            for key, value in (
                ("host", source.host),
                ("port", str(source.port)),
                ("dbname", source.dbname),
            ):
                if found[1].get(key) != value:
                    report.warnings.append(
                        f"server {key} is {found[1].get(key)!r} but MICROMASTERS_DATABASE_URL "
                        f"says {value!r}: rerun setup_micromasters_fdw"
                    )
    if schema_exists(cursor, options.schema):
        report.tables = local_relations(cursor, options.schema)
    else:
        report.problems.append(f'schema "{options.schema}" does not exist')
    wanted = required_tables()
    report.missing = [t for t in wanted if t not in report.tables]
    mounted = [t for t in wanted if report.tables.get(t, {}).get("kind") == "f"]
    remote_schemas = {
        report.tables[t]["options"].get("schema_name", options.remote_schema) for t in mounted
    }
    if len(remote_schemas) == 1:
        report.remote_schema = remote_schemas.pop()
    if found is not None and report.mapping is not None and schema_exists(cursor, options.schema):
        report.remote = probe_remote(cursor, options.server, options.schema, report.remote_schema)
        report.gone = [
            t
            for t in mounted
            if report.tables[t]["options"].get("table_name", t) not in report.remote.tables
        ]
        for table in KEY_TABLES:
            if table in report.tables and table not in report.gone:
                try:
                    report.counts[table] = _count(cursor, options.schema, table)
                except Exception as error:  # reported per table, the others still count
                    report.counts[table] = explain(error, source, options.server, role)
                    report.problems.append(f"{table}: {report.counts[table]}")
    if report.missing:
        report.problems.append(
            "not mounted: " + ", ".join(report.missing) + " (run setup_micromasters_fdw)"
        )
    if report.gone:
        report.problems.append(
            f"mounted but missing on the remote schema {report.remote_schema} (or not visible "
            "to the mapped user): " + ", ".join(report.gone)
        )
    return report


# --- unmounting -------------------------------------------------------------------------


def unmount(cursor, options: MountOptions) -> list[tuple[str, str]]:
    """Remove the schema, the current user's mapping and the server; keep the extension.

    Refuses a schema that holds anything but foreign tables: `--drop` must never destroy
    real data, e.g. a test or demo copy of MicroMasters kept as plain tables. The server is
    dropped without CASCADE, so another role's mapping or another schema's foreign tables
    stop it with a clear error instead of vanishing silently.
    """
    check_schema_name(options.schema)
    steps = []
    if schema_exists(cursor, options.schema):
        relations = local_relations(cursor, options.schema)
        plain = sorted(name for name, rel in relations.items() if rel["kind"] != "f")
        if plain:
            raise FdwError(
                f'schema "{options.schema}" holds tables that are not foreign tables '
                f"({', '.join(plain[:5])}{'...' if len(plain) > 5 else ''}): it is not just a "
                "mount, so it is left alone; drop it yourself if you mean it"
            )
        cursor.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(options.schema)))
        steps.append((f"Schema {options.schema}", f"dropped ({len(relations)} foreign tables)"))
    else:
        steps.append((f"Schema {options.schema}", "not there"))
    if server_info(cursor, options.server) is None:
        steps.append((f"Server {options.server}", "not there"))
        return steps
    had_mapping = mapping_options(cursor, options.server) is not None
    cursor.execute(
        sql.SQL("DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER {}").format(
            sql.Identifier(options.server)
        )
    )
    steps.append(("User mapping", "dropped" if had_mapping else "not there"))
    cursor.execute(sql.SQL("DROP SERVER {}").format(sql.Identifier(options.server)))
    steps.append((f"Server {options.server}", "dropped"))
    return steps
