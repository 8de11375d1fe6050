"""The demo's MicroMasters database: made, replaced and shared safely on the MITx Online server.

The demo source lives in its own database next to MITx Online's, so that it is mounted
through postgres_fdw exactly as production's MicroMasters is. Because the command drops and
recreates that database, it must never be pointed at a real one by mistake: every database
(and reader role) it makes carries a comment starting with `MARKER`, and anything without
that comment is refused, with or without `--replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import psycopg
from django.conf import settings
from psycopg import sql

MARKER = "micromasters-demo:"


class DemoDatabaseError(Exception):
    """Something the operator must decide (a name clash); the message says what to do."""


@dataclass(frozen=True)
class Server:
    """Where the default database is, and how to log in; the password stays out of repr."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, alias: str = "default") -> Server:
        """The server of a Django database alias: the demo source goes next to it."""
        db = settings.DATABASES[alias]
        options = {
            key: str(value)
            for key, value in (db.get("OPTIONS") or {}).items()
            if key in ("sslmode", "sslrootcert", "sslcert", "sslkey")
        }
        return cls(
            host=db.get("HOST") or "127.0.0.1",
            port=int(db.get("PORT") or 5432),
            user=db.get("USER") or "postgres",
            dbname=db["NAME"],
            password=db.get("PASSWORD") or None,
            options=options,
        )

    def connect(self, dbname: str | None = None, autocommit: bool = False) -> psycopg.Connection:
        """A psycopg connection to one database of this server, as the default user."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname or self.dbname,
            autocommit=autocommit,
            **self.options,
        )

    def url(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        """A postgres:// URL of one database; pass `password` only to get it unmasked."""
        user = user or self.user
        host = f"[{self.host}]" if ":" in self.host else self.host
        secret = f":{quote(password, safe='')}" if password else ""
        return (
            f"postgres://{quote(user, safe='')}{secret}@{host}:{self.port}/{quote(dbname, safe='')}"
        )

    def masked_url(self, dbname: str, user: str | None = None, has_password: bool = False) -> str:
        """The URL to print: the password, if there is one, shown as `***`."""
        url = self.url(dbname, user)
        if has_password:
            scheme, rest = url.split("://", 1)
            login, location = rest.split("@", 1)
            url = f"{scheme}://{login}:***@{location}"
        return url


def _comment(conn, kind: str, name: str) -> tuple[bool, str | None]:
    """Whether a database or role exists, and its comment."""
    if kind == "database":
        query = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s"
    else:
        query = "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s"
    row = conn.execute(query, [name]).fetchone()
    return (row is not None, row[0] if row else None)


def check_database(server: Server, name: str, replace: bool) -> bool:
    """Refuse a source database name the demo may not use; returns whether it exists.

    Refuses the default database itself, any existing database that the demo did not make
    (whatever the options: no flag lets the demo drop a database it did not make), and an
    existing demo database without `replace`. Reads only, so it can run before any write.
    """
    if name == server.dbname:
        raise DemoDatabaseError(
            f'"{name}" is the MITx Online database itself: choose another --source-database'
        )
    with server.connect(autocommit=True) as conn:
        exists, comment = _comment(conn, "database", name)
    if exists:
        if not (comment or "").startswith(MARKER):
            raise DemoDatabaseError(
                f'database "{name}" exists and was not made by create_micromasters_demo: '
                "refusing to touch it (choose another --source-database)"
            )
        if not replace:
            raise DemoDatabaseError(
                f'the demo database "{name}" already exists: pass --replace to rebuild it'
            )
    return exists


def check_reader(server: Server, role: str) -> None:
    """Refuse a reader role name that exists and was not made by the demo (reads only)."""
    with server.connect(autocommit=True) as conn:
        exists, comment = _comment(conn, "role", role)
    if exists and not (comment or "").startswith(MARKER):
        raise DemoDatabaseError(
            f'role "{role}" exists and was not made by create_micromasters_demo: '
            "refusing to change it (choose another --reader)"
        )


def recreate_database(server: Server, name: str, replace: bool, description: str) -> str:
    """Create the demo database, or drop and recreate a previous demo one with `replace`.

    `check_database` decides first, so only a database carrying the demo's comment is ever
    dropped. `DROP ... WITH (FORCE)` ends sessions still connected to an old demo database,
    e.g. a postgres_fdw connection of a running server. Returns what was done.
    """
    exists = check_database(server, name, replace)
    with server.connect(autocommit=True) as conn:
        action = "created"
        if exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            action = "replaced"
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(f"{MARKER} {description}")
            )
        )
    return action


def grant_reader(server: Server, dbname: str, role: str, password: str) -> str:
    """A password-protected, read-only login role that may read the demo source.

    This is how production gives the import access to MicroMasters, and postgres_fdw only
    lets a non-superuser connect with a password, so the demo mounts through such a role
    too. An existing role is reused (its password reset) only if the demo made it. The
    password is sent as a literal (DDL takes no parameters) with statement logging off.
    """
    check_reader(server, role)
    with server.connect(autocommit=True) as conn:
        exists, _ = _comment(conn, "role", role)
        name = sql.Identifier(role)
        with conn.transaction():
            superuser = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()[0]
            if superuser:
                conn.execute("SET LOCAL log_statement = 'none'")
                conn.execute("SET LOCAL log_min_error_statement = 'panic'")
            verb = sql.SQL("ALTER" if exists else "CREATE")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    verb, name, sql.Literal(password)
                )
            )
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(
                name, sql.Literal(f"{MARKER} read-only reader of the demo MicroMasters database")
            )
        )
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(name))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), name)
        )
    with server.connect(dbname, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(name))
    return "updated" if exists else "created"
