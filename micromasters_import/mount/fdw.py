"""Mount the MicroMasters database into MITx Online with postgres_fdw, safely and repeatably.

The import reads MicroMasters through foreign tables in one local schema (`micromasters`).
Setting that up by hand took a dozen statements, a password typed into SQL, and tuning that
is easy to forget (the defaults were measured about 50x slower on this workload). These
functions do it idempotently from `MICROMASTERS_DATABASE_URL`, so rerunning them after a
password rotation or a host change just brings the mount up to date.

Three rules shape the code:

* The password never leaves two places: the environment and the user mapping. It is never
  written into a statement the tool sends: it travels as COPY data (which no setting logs)
  into a temporary table, and a DO block writes it into the user mapping on the server (see
  `prepare_password_channel`). It goes only through the raw psycopg connection (never
  through Django's cursor, which records queries when DEBUG is on), it is never part of a
  `repr`, and every message that could contain it goes through `scrub` first.
* The mount is made in one transaction (the caller wraps `mount` in `atomic`), so a wrong
  password or an unreachable host leaves the previous, working mount untouched.
* Anything we only need to look at on the remote (its version, its table list) is read
  through throwaway foreign tables inside a savepoint that is rolled back, so checking never
  leaves objects behind.

The connection to MicroMasters is made by the MITx Online *database server*, not by the
machine that runs this code: host names are resolved there.
"""

from __future__ import annotations

import re
import secrets as random_tokens
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

from psycopg import sql

from micromasters_import.engine import staging

DEFAULT_SERVER = "micromasters_server"
DEFAULT_REMOTE_SCHEMA = "public"
# Bulk-read tuning: at 20,000 users the obvious per-step SQL took about 300 s with the
# defaults, 6.5 s with fetch_size 10000 and use_remote_estimate (about 50x faster).
FAST_FETCH_SIZE = 10000
DEFAULT_CONNECT_TIMEOUT = 10

# The tables whose row counts `--check` shows: enough to tell an empty or wrong database.
KEY_TABLES = (
    "auth_user",
    "social_auth_usersocialauth",
    "dashboard_cachedenrollment",
    "grades_finalgrade",
    "grades_micromasterscoursecertificate",
    "ecommerce_order",
)

# libpq settings a URL may carry in its query string that belong on the foreign server.
URL_SERVER_OPTIONS = ("sslmode", "sslrootcert")
# Server options this module owns: set when wanted, dropped when no longer wanted. Options
# a DBA added by hand (anything else) are left alone.
MANAGED_SERVER_OPTIONS = (
    "host",
    "port",
    "dbname",
    "fetch_size",
    "use_remote_estimate",
    "connect_timeout",
    *URL_SERVER_OPTIONS,
)
MANAGED_MAPPING_OPTIONS = ("user", "password")

# Schemas a mount must never go into (or be dropped from): they hold other things.
RESERVED_SCHEMAS = {"public", "information_schema", "pg_catalog", "pg_toast"}

PROBE_SAVEPOINT = "micromasters_fdw_probe"
URL_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}
MASK = "***"


class FdwError(Exception):
    """A problem the operator must fix; the message is one line and never holds a password."""


def required_tables() -> list[str]:
    """Every MicroMasters table the import needs mounted, sorted.

    The tables staging copies, plus those preflight and step 001 look for (`courses_program`,
    `courses_course`) and `auth_user`, which `--check` counts. Derived from staging so a new
    staged table is mounted without editing this module.
    """
    sources = {table.source for table in staging.STAGED_TABLES.values()}
    return sorted(sources | set(staging.KNOWN_SOURCE_COLUMNS) | set(KEY_TABLES))


# --- the URL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceURL:
    """The parts of MICROMASTERS_DATABASE_URL the mount needs; the password stays out of repr.

    `repr=False` matters: a dataclass would otherwise print the password in any traceback,
    log line or debugger that shows the object.
    """

    scheme: str
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    server_options: dict[str, str] = field(default_factory=dict)

    def masked(self) -> str:
        """The URL to show people: rebuilt from its parts with the password as `***`.

        Rebuilt rather than edited, so that a badly encoded password can never survive in
        some part of the original text.
        """
        secret = f":{MASK}" if self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.server_options.items())
        return (
            f"{self.scheme}://{quote(self.user, safe='')}{secret}@{host}:{self.port}/"
            f"{quote(self.dbname, safe='')}" + (f"?{query}" if query else "")
        )

    def secrets(self) -> list[str]:
        """The forms in which the password could appear in some text, for `scrub`."""
        if not self.password:
            return []
        return sorted({self.password, quote(self.password, safe=""), quote_plus(self.password)})


def parse_url(url: str | None) -> SourceURL:
    """Read MICROMASTERS_DATABASE_URL, with errors that never quote the URL.

    An unencoded `/`, `#`, `?` or `@` in a password makes the URL parse wrongly, and the
    parser's own error text (or a host or database name we would display) would then contain
    a piece of the password. So every error here is generic, and suspicious parts are refused
    instead of displayed.
    """
    if not url or not url.strip():
        raise FdwError(
            "MICROMASTERS_DATABASE_URL is not set: export it as "
            "postgres://USER:PASSWORD@HOST:PORT/DBNAME (the MicroMasters database)"
        )
    bad = (
        "MICROMASTERS_DATABASE_URL is not a valid postgres://USER:PASSWORD@HOST:PORT/DBNAME "
        "URL (percent-encode special characters in the password, e.g. / as %2F, @ as %40)"
    )
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 5432
        host = parts.hostname
    except ValueError:
        raise FdwError(bad) from None
    if parts.scheme not in URL_SCHEMES or parts.fragment or "@" not in parts.netloc:
        raise FdwError(bad)
    dbname = unquote(parts.path.lstrip("/"))
    if not host or not dbname or "/" in dbname or "@" in dbname:
        raise FdwError(bad)
    query = dict(parse_qsl(parts.query))
    password = parts.password
    if password is not None:
        password = unquote(password)
    password = query.pop("password", password) or None
    user = unquote(parts.username or "") or query.pop("user", "")
    if not user:
        raise FdwError("MICROMASTERS_DATABASE_URL has no user name (postgres://USER:...)")
    options = {k: query[k] for k in URL_SERVER_OPTIONS if k in query}
    return SourceURL(parts.scheme, host, port, dbname, user, password, options)


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every form of the password in some text with `***`, and make it one line.

    Used on every database error we re-raise: PostgreSQL does not echo the user mapping's
    options, but drivers and extensions change, and one leaked password costs more than a
    garbled message.
    """
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return " ".join(text.split())


# --- explaining failures ----------------------------------------------------------------


def explain(error: Exception, source: SourceURL | None, server: str, role: str = "") -> str:
    """A one-line, password-free explanation of a database error, saying what to fix.

    postgres_fdw reports connection failures as `could not connect to server "..."` with the
    libpq reason in the detail; operators need the reason translated into which part of
    MICROMASTERS_DATABASE_URL (or which grant) is wrong.
    """
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(error)
    detail = getattr(diag, "message_detail", None) or ""
    hint = getattr(diag, "message_hint", None) or ""
    sqlstate = getattr(error, "sqlstate", None) or ""
    text = f"{primary} {detail}"
    where = f"{source.host}:{source.port}" if source else "the MicroMasters server"
    user = f'"{source.user}"' if source else "the mapped user"
    dbname = f'"{source.dbname}"' if source else "the MicroMasters database"
    secrets = source.secrets() if source else []
    if "password authentication failed" in text:
        message = (
            f"MicroMasters at {where} refused the password for user {user}: "
            "fix the password in MICROMASTERS_DATABASE_URL"
        )
    elif re.search(r'database ".*" does not exist', text):
        message = (
            f"database {dbname} does not exist on {where}: "
            "fix the database name in MICROMASTERS_DATABASE_URL"
        )
    elif re.search(r'role ".*" does not exist', text):
        message = (
            f"user {user} does not exist on {where}: fix the user in MICROMASTERS_DATABASE_URL"
        )
    elif "no pg_hba.conf entry" in text:
        message = (
            f"MicroMasters at {where} does not accept connections from the MITx Online "
            "database server (its pg_hba.conf or firewall must allow that host)"
        )
    elif sqlstate == "2F003" or "password is required" in text:
        message = (
            f'postgres_fdw requires a password for the non-superuser role "{role}": '
            "put the MicroMasters password in MICROMASTERS_DATABASE_URL (the remote must ask "
            "for it), or have a superuser set password_required 'false' on the user mapping"
        )
    elif any(
        reason in text
        for reason in (
            "Connection refused",
            "could not translate host name",
            "timeout expired",
            "No route to host",
            "Network is unreachable",
            "Connection timed out",
            "could not connect",
        )
    ):
        message = (
            f"cannot reach MicroMasters at {where} from the MITx Online database server: "
            "check the host and port in MICROMASTERS_DATABASE_URL (the database server makes "
            "this connection, so the host must resolve and be reachable from there)"
        )
    elif sqlstate == "3F000" or "is not present on foreign server" in text:
        message = f"{primary} (check --remote-schema)"
    elif sqlstate == "42501" and "foreign-data wrapper" in text:
        message = (
            f"{primary}: a superuser must run "
            f'GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO "{role}"'
        )
    elif sqlstate == "42501" and "extension" in text:
        message = (
            f"{primary}: a superuser (rds_superuser on RDS) must run "
            "CREATE EXTENSION postgres_fdw in the MITx Online database"
        )
    elif sqlstate == "42501":
        message = (
            f"{primary} {detail}: on MicroMasters, GRANT SELECT on the source tables to {user}; "
            "in MITx Online, the role needs CREATE on the database"
        )
    else:
        message = " ".join(part for part in (primary, detail, hint) if part)
        message = f'the mount through server "{server}" failed: {message}'
    return scrub(message, secrets)


# Connection failures: postgres_fdw's `could not connect to server` (08001), a password it
# requires (2F003), and a connection lost on the way (08006, 08003).
CONNECTION_SQLSTATES = {"08001", "08003", "08006", "2F003"}


def is_connection_failure(error: Exception) -> bool:
    """Whether a database error means the MicroMasters server could not be reached or logged
    into, as opposed to a problem with a query."""
    cause = database_cause(error)
    text = str(cause)
    return (getattr(cause, "sqlstate", None) or "") in CONNECTION_SQLSTATES or (
        "could not connect to server" in text
    )


def database_cause(error: Exception) -> Exception:
    """The psycopg error behind a Django one: it carries the diagnostics (detail, sqlstate)."""
    cause = getattr(error, "__cause__", None)
    return cause if cause is not None and hasattr(cause, "diag") else error


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


def configured_secrets() -> list[str]:
    """The forms of MICROMASTERS_DATABASE_URL's password, to scrub from any message."""
    from django.conf import settings

    try:
        return parse_url(getattr(settings, "MICROMASTERS_DATABASE_URL", None)).secrets()
    except FdwError:
        return []


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


# --- catalog reads ----------------------------------------------------------------------


def _options(array: list[str] | None) -> dict[str, str]:
    """`{'k=v', ...}` catalog option arrays as a dict."""
    return dict(item.split("=", 1) for item in array or [])


def current_role(cursor) -> tuple[str, bool]:
    """The role the mount is made for, and whether it is a superuser.

    postgres_fdw lets only superusers connect without a password (`password_required`), so
    a non-superuser with a password-less URL must be stopped before anything is created.
    """
    cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
    name, rolsuper = cursor.fetchone()
    return name, bool(rolsuper)


def server_info(cursor, server: str) -> tuple[str, dict[str, str]] | None:
    """The foreign server's wrapper name and options, or None if it does not exist."""
    cursor.execute(
        """
        SELECT w.fdwname, s.srvoptions
          FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
         WHERE s.srvname = %s
        """,
        [server],
    )
    row = cursor.fetchone()
    return (row[0], _options(row[1])) if row else None


def mapping_options(cursor, server: str) -> dict[str, str] | None:
    """The current user's mapping options with the password's value withheld, or None.

    The value is cut off in SQL, so the stored password is never even fetched into Python.
    """
    cursor.execute(
        """
        SELECT split_part(o, '=', 1),
               CASE WHEN split_part(o, '=', 1) = 'password' THEN %s
                    ELSE substr(o, strpos(o, '=') + 1) END
          FROM pg_user_mappings m LEFT JOIN LATERAL unnest(m.umoptions) AS o ON true
         WHERE m.srvname = %s AND m.umuser = (SELECT oid FROM pg_roles WHERE rolname = current_user)
        """,
        [MASK, server],
    )
    rows = cursor.fetchall()
    if not rows:
        return None
    return {key: value for key, value in rows if key is not None}


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


# --- mounting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MountOptions:
    """How to mount: the local names, the remote schema and the bulk-read tuning."""

    server: str = DEFAULT_SERVER
    schema: str = staging.SOURCE_SCHEMA
    remote_schema: str = DEFAULT_REMOTE_SCHEMA
    fetch_size: int = FAST_FETCH_SIZE
    remote_estimate: bool = True
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT


def check_schema_name(schema: str) -> None:
    """Refuse schemas that hold other things, so a mount or `--drop` cannot clobber them."""
    if schema in RESERVED_SCHEMAS or schema.startswith("pg_"):
        raise FdwError(f'refusing to use schema "{schema}": mount MicroMasters in its own schema')


def server_options(source: SourceURL, options: MountOptions) -> dict[str, str]:
    """The foreign server's options: where MicroMasters is, and how to read it in bulk.

    `fetch_size` and `use_remote_estimate` are the settings that made the measured difference
    (about 50x on this workload); a benchmark can ask for the naive values to reproduce it.
    `connect_timeout` keeps an unreachable host from hanging the command for minutes.
    """
    wanted = {
        "host": source.host,
        "port": str(source.port),
        "dbname": source.dbname,
        "fetch_size": str(options.fetch_size),
        "use_remote_estimate": "true" if options.remote_estimate else "false",
        "connect_timeout": str(options.connect_timeout),
    }
    wanted.update(source.server_options)
    return wanted


def _alter_clauses(current: dict[str, str], wanted: dict[str, str], managed) -> list:
    """The `SET`/`ADD`/`DROP` clauses that turn `current` options into `wanted` ones."""
    clauses = []
    for key, value in wanted.items():
        verb = "SET" if key in current else "ADD"
        if current.get(key) != value:
            clauses.append(
                sql.SQL("{} {} {}").format(sql.SQL(verb), sql.Identifier(key), _value(value))
            )
    for key in managed:
        if key in current and key not in wanted:
            clauses.append(sql.SQL("DROP {}").format(sql.Identifier(key)))
    return clauses


def _value(value) -> sql.Composable:
    """An option's value: a literal, or already composed (the password's place)."""
    return value if isinstance(value, sql.Composable) else sql.Literal(value)


def _option_list(options: dict) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(key), _value(value))
        for key, value in options.items()
    )


def ensure_extension(cursor) -> str:
    """Create postgres_fdw unless installed; checked first because only superusers may create it.

    On RDS the app role usually cannot create extensions but can use one that exists.
    """
    cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgres_fdw'")
    row = cursor.fetchone()
    if row:
        return f"already installed ({row[0]})"
    cursor.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
    return "created"


def ensure_server(cursor, source: SourceURL, options: MountOptions) -> str:
    """Create the foreign server, or bring an existing one's options up to date.

    ALTER rather than drop-and-create, because dropping a server drops every foreign table
    and mapping that depends on it.
    """
    wanted = server_options(source, options)
    name = sql.Identifier(options.server)
    found = server_info(cursor, options.server)
    if found is None:
        cursor.execute(
            sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({})").format(
                name, _option_list(wanted)
            )
        )
        return "created (" + ", ".join(f"{k} {v}" for k, v in wanted.items()) + ")"
    wrapper, current = found
    if wrapper != "postgres_fdw":
        raise FdwError(
            f'server "{options.server}" exists but uses {wrapper}, not postgres_fdw: '
            "choose another --server-name"
        )
    clauses = _alter_clauses(current, wanted, MANAGED_SERVER_OPTIONS)
    if not clauses:
        return "up to date"
    cursor.execute(
        sql.SQL("ALTER SERVER {} OPTIONS ({})").format(name, sql.SQL(", ").join(clauses))
    )
    changed = [
        f"{k} {current.get(k, '(unset)')} -> {v}" for k, v in wanted.items() if current.get(k) != v
    ]
    dropped = [k for k in MANAGED_SERVER_OPTIONS if k in current and k not in wanted]
    return "updated (" + ", ".join(changed + [f"{k} dropped" for k in dropped]) + ")"


def ensure_user_mapping(
    cursor, source: SourceURL, server: str, channel: PasswordChannel | None = None
) -> str:
    """Map the current role to the MicroMasters user; ALTER an existing one.

    ALTER (not drop-and-create) keeps options a DBA added, e.g. an SSL client certificate,
    and applies a rotated password. DDL cannot take bind parameters, so the statement that
    holds the password is built on the server from the password sent as COPY data
    (`send_with_password`), after `prepare_password_channel` has made sure nothing logs it.
    """
    channel = channel or PasswordChannel()
    wanted = {"user": source.user}
    if source.password:
        wanted["password"] = source.password
    current = mapping_options(cursor, server)
    name = sql.Identifier(server)
    if current is None:

        def create(secret: sql.Composable) -> sql.Composed:
            options = {**wanted, "password": secret} if source.password else wanted
            return sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS ({})").format(
                name, _option_list(options)
            )

        send_with_password(cursor, create, source.password, channel)
        return "created" + (" (with password)" if source.password else " (no password)")
    # Compare without the password (its stored value was never fetched): always SET it.
    current_cmp = {k: (None if k == "password" else v) for k, v in current.items()}
    clauses = _alter_clauses(current_cmp, wanted, MANAGED_MAPPING_OPTIONS)
    if not clauses:
        return "up to date"

    def alter(secret: sql.Composable) -> sql.Composed:
        options = {**wanted, "password": secret} if source.password else wanted
        return sql.SQL("ALTER USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS ({})").format(
            name, sql.SQL(", ").join(_alter_clauses(current_cmp, options, MANAGED_MAPPING_OPTIONS))
        )

    send_with_password(cursor, alter, source.password, channel)
    changes = []
    if current.get("user") != source.user:
        changes.append(f"user {current.get('user', '(unset)')} -> {source.user}")
    if source.password:
        changes.append("password re-applied" if "password" in current else "password added")
    elif "password" in current:
        changes.append("password removed")
    # The stored password cannot be compared, so SETting it again is not reported as a change.
    verb = "up to date" if changes == ["password re-applied"] else "updated"
    return f"{verb} ({', '.join(changes)})"


# --- keeping the password out of the server log --------------------------------------------
#
# The password is never written into a statement the tool sends. It travels as COPY data,
# which no setting logs, into a temporary table that only this transaction sees, and a DO
# block builds the CREATE/ALTER USER MAPPING statement on the server and runs it. So the
# settings that log what a client sends (log_statement, log_min_duration_statement and its
# sampled forms, log_min_error_statement, log_duration) only ever see `COPY ... FROM STDIN`
# and `DO '...'`. What could still record the password is what records the statements run
# inside a DO block: pgaudit, the debug_print_* trees, and pg_stat_statements tracking
# nested utility statements. Those are switched off for the transaction where the role may;
# any left on refuses the mount unless the operator accepts it
# (--allow-password-in-server-log). Without the TEMP privilege the carrier cannot be used,
# and the statement loggers are then checked the same way.

CARRIER_TABLE = "micromasters_fdw_password"


def _on(value: str, _settings: dict) -> bool:
    return value.lower() in ("on", "true", "1", "yes")


def _int_at_least_zero(value: str, _settings: dict) -> bool:
    number = re.match(r"^-?\d+", value.strip())
    return bool(number) and int(number.group(0)) >= 0


def _pgaudit_logs_ddl(value: str, settings: dict) -> bool:
    """pgaudit logs CREATE/ALTER USER MAPPING (class ddl), statement text included."""
    if not _on(settings.get("pgaudit.log_statement") or "on", settings):
        return False
    classes: set[str] = set()
    for item in (part.strip().lower() for part in value.split(",")):
        if item == "all":
            classes |= {"ddl", "role", "misc"}
        elif item.startswith("-"):
            classes.discard(item[1:])
        elif item:
            classes.add(item)
    return "ddl" in classes


def _pgss_tracks_nested_utility(value: str, settings: dict) -> bool:
    return value == "all" and _on(settings.get("pg_stat_statements.track_utility") or "on", {})


@dataclass(frozen=True)
class Recorder:
    """A setting that would record the statement holding the password, and how to quiet it."""

    name: str
    quiet: str
    where: str
    records: Callable[[str, dict], bool]


# They record statements run inside the DO block.
NESTED_RECORDERS = (
    Recorder("pgaudit.log", "none", "the server log (pgaudit)", _pgaudit_logs_ddl),
    Recorder("debug_print_parse", "off", "the server log", _on),
    Recorder("debug_print_rewritten", "off", "the server log", _on),
    Recorder("debug_print_plan", "off", "the server log", _on),
    Recorder("pg_stat_statements.track", "top", "pg_stat_statements", _pgss_tracks_nested_utility),
)
# They record the statements a client sends: harmless with the carrier, checked without it.
STATEMENT_LOGGERS = (
    Recorder("log_statement", "none", "the server log", lambda v, _: v.lower() != "none"),
    Recorder("log_min_duration_statement", "-1", "the server log", _int_at_least_zero),
    Recorder(
        "log_min_duration_sample",
        "-1",
        "the server log",
        lambda v, s: (
            _int_at_least_zero(v, s) and float(s.get("log_statement_sample_rate") or 0) > 0
        ),
    ),
    Recorder("log_transaction_sample_rate", "0", "the server log", lambda v, _: float(v or 0) > 0),
    Recorder(
        "log_min_error_statement",
        "panic",
        "the server log (if the statement fails)",
        lambda v, _: v.lower() not in ("log", "fatal", "panic"),
    ),
    # log_duration logs a duration, never the statement; quieted with the others all the same.
    Recorder("log_duration", "off", "the server log", lambda v, _: False),
)
OTHER_SETTINGS = ("pgaudit.log_statement", "pg_stat_statements.track_utility")


@dataclass
class PasswordChannel:
    """How the password reaches the server, decided before anything is sent.

    `carrier`: through COPY and a DO block (False: written into the statement, which only
    happens when the operator accepted it). `accepted`: what would record the password
    anyway, accepted with --allow-password-in-server-log.
    """

    carrier: bool = True
    accepted: list[str] = field(default_factory=list)


def _try_set_local(cursor, name: str, value: str) -> bool:
    """SET LOCAL, in a savepoint: False when the role may not change the setting."""
    cursor.execute("SAVEPOINT micromasters_fdw_quiet")
    try:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    except Exception:
        cursor.execute("ROLLBACK TO SAVEPOINT micromasters_fdw_quiet")
        cursor.execute("RELEASE SAVEPOINT micromasters_fdw_quiet")
        return False
    cursor.execute("RELEASE SAVEPOINT micromasters_fdw_quiet")
    return True


def _settings(cursor, names) -> dict[str, str]:
    """Current values of these settings; those the server does not have are left out."""
    cursor.execute(
        "SELECT name, current_setting(name, true) FROM unnest(%s::text[]) AS name", [list(names)]
    )
    return {name: value for name, value in cursor.fetchall() if value is not None}


def prepare_password_channel(cursor, role: str, allow: bool = False) -> PasswordChannel:
    """Make sure the password about to be sent is recorded nowhere; refuse if it would be.

    Must run in the transaction that sends the password (the caller's `atomic`): the
    settings are changed with SET LOCAL, for that transaction only. Raises FdwError naming
    the setting that would record the password and how to proceed, unless `allow`.
    """
    cursor.execute("SELECT has_database_privilege(current_database(), 'TEMP'), current_database()")
    carrier, database = cursor.fetchone()
    recorders = NESTED_RECORDERS + STATEMENT_LOGGERS
    values = _settings(cursor, [r.name for r in recorders] + list(OTHER_SETTINGS))
    watched = NESTED_RECORDERS if carrier else recorders
    remaining = []
    for recorder in recorders:
        value = values.get(recorder.name)
        if value is None or value == recorder.quiet:
            continue
        quieted = _try_set_local(cursor, recorder.name, recorder.quiet)
        if not quieted and recorder in watched and recorder.records(value, values):
            remaining.append(f"{recorder.name} = '{value}' would record it in {recorder.where}")
    if remaining and not allow:
        lacking_temp = (
            ""
            if carrier
            else (
                ", and it lacks the TEMP privilege the tool needs to keep the password out of "
                "the statements it sends"
            )
        )
        fixes = "run setup_micromasters_fdw as a superuser"
        if not carrier:
            fixes += f', GRANT TEMP ON DATABASE "{database}" TO "{role}"'
        raise FdwError(
            f"refusing to send the MicroMasters password: {'; '.join(remaining)}, and the "
            f'role "{role}" may not turn that off for its transaction{lacking_temp}: {fixes}, '
            "turn the setting off for this role, or rerun with --allow-password-in-server-log "
            "to accept it"
        )
    return PasswordChannel(carrier=carrier, accepted=remaining)


def send_with_password(cursor, build, password: str | None, channel: PasswordChannel) -> None:
    """Run `build(value)`, a statement with a place for the password, never sending the
    password in a statement's text.

    The password goes as COPY data into a temporary table that exists only in this
    transaction; a DO block reads it, quotes it and runs the statement on the server. An
    error inside the block is raised again without its context, which would quote the
    statement built there, password included. Without a password (or without the carrier,
    when the operator accepted that) the statement is sent as it is.
    """
    if not password:
        cursor.execute(build(sql.SQL("")))  # the statement has no place for a password
        return
    if not channel.carrier:
        cursor.execute(build(sql.Literal(password)))
        return
    marker = f"micromasters_password_{random_tokens.token_hex(12)}"
    text = build(sql.SQL(marker)).as_string(cursor)
    if text.count(marker) != 1:
        raise FdwError("internal error: the password's place in the statement is ambiguous")
    before, after = text.split(marker)
    table = sql.Identifier("pg_temp", CARRIER_TABLE)
    cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    cursor.execute(
        sql.SQL("CREATE TEMP TABLE {} (value text) ON COMMIT DROP").format(
            sql.Identifier(CARRIER_TABLE)
        )
    )
    with cursor.copy(sql.SQL("COPY {} (value) FROM STDIN").format(table)) as copy:
        copy.write_row([password])
    body = sql.SQL(
        "DECLARE secret text; detail text; "
        "BEGIN "
        "SELECT value INTO STRICT secret FROM {table}; "
        "EXECUTE {before} || quote_literal(secret) || {after}; "
        "EXCEPTION WHEN OTHERS OR query_canceled THEN "
        "GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL; "
        "RAISE EXCEPTION USING ERRCODE = SQLSTATE, "
        "MESSAGE = SQLERRM || coalesce(' (' || nullif(detail, '') || ')', ''); "
        "END"
    ).format(table=table, before=sql.Literal(before), after=sql.Literal(after))
    cursor.execute(sql.SQL("DO {}").format(sql.Literal(body.as_string(cursor))))
    cursor.execute(sql.SQL("DROP TABLE {}").format(table))


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
