"""Sending the MicroMasters password to the server without any log recording it.

The password is never written into a statement the tool sends: it travels as COPY data (which
no setting logs) into a temporary table, and a DO block writes it into the user mapping on the
server. Settings that record statements run inside a DO block (pgaudit, debug_print_*,
pg_stat_statements) are switched off for the transaction where the role may; otherwise the
mount is refused unless the operator allows the password in the server log.
"""

from __future__ import annotations

import re
import secrets as random_tokens
from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg import sql

from micromasters_import.mount.source_url import FdwError

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
