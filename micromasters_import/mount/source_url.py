"""The MicroMasters URL and its secrets: parsing, masking, and saying why a connection failed.

`MICROMASTERS_DATABASE_URL` holds the password. It is parsed here without ever being quoted
in an error, every message that could contain it goes through `scrub`, and a connection
failure is explained by its cause (password refused, host unreachable, database missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

# libpq settings a URL may carry in its query string that belong on the foreign server.
URL_SERVER_OPTIONS = ("sslmode", "sslrootcert")

URL_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}

MASK = "***"


class FdwError(Exception):
    """A problem the operator must fix; the message is one line and never holds a password."""


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


def configured_secrets() -> list[str]:
    """The forms of MICROMASTERS_DATABASE_URL's password, to scrub from any message."""
    from django.conf import settings

    try:
        return parse_url(getattr(settings, "MICROMASTERS_DATABASE_URL", None)).secrets()
    except FdwError:
        return []
