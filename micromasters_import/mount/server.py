"""The foreign server and the user mapping: where MicroMasters is, and who reads it.

Both are brought up to date idempotently from the URL: options this tool manages are set,
others an administrator added are kept. `fetch_size` 10000 and `use_remote_estimate` are the
bulk-read tuning (the obvious per-step SQL took about 300 s at 20,000 users with postgres_fdw's
defaults, 6.5 s tuned).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from micromasters_import.engine import staging
from micromasters_import.mount.password import (
    PasswordChannel,
    send_with_password,
)
from micromasters_import.mount.source_url import MASK, URL_SERVER_OPTIONS, FdwError, SourceURL

DEFAULT_SERVER = "micromasters_server"

DEFAULT_REMOTE_SCHEMA = "public"

# Bulk-read tuning: at 20,000 users the obvious per-step SQL took about 300 s with the
# defaults, 6.5 s with fetch_size 10000 and use_remote_estimate (about 50x faster).
FAST_FETCH_SIZE = 10000

DEFAULT_CONNECT_TIMEOUT = 10

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
