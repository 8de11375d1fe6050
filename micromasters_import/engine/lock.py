"""PostgreSQL advisory locks: one import at a time, and a way to tell a live run from a dead one.

Two concurrent runs would race on the anti-joins that make the steps idempotent and could
insert the same rows twice. A session-level advisory lock is released by PostgreSQL itself
when the session ends, so a killed run never leaves a stale lock behind, once the server
notices that the session's client is gone. It notices at once when it is idle, but a
backend busy with a long statement would otherwise go on until the statement ends. So the
session that holds the lock asks the server to check its client during statements
(`client_connection_check_interval`) and to probe an idle network peer (TCP keepalives),
which ends the statement, the session and the lock within seconds of a `kill -9` or a lost
host.

When the lock is taken anyway, the error says who holds it, what that session is doing, and,
when its client runs on this machine, whether that process still exists: a session whose
client is gone can be ended by hand (`pg_terminate_backend`) instead of waited for.

Each run also holds a lock of its own batch for as long as it runs, so that the ledger can
tell the pending rows of a run in progress from those a dead run left (`ledger`).
"""

import os
import re
import socket
from contextlib import contextmanager

from psycopg import sql

LOCK_KEY = 7_263_021_001  # an arbitrary constant that identifies this tool's lock
# The two-key form `pg_advisory_lock(BATCH_LOCK_CLASS, hashtext(batch))` marks a live batch.
BATCH_LOCK_CLASS = 72_630_211
APPLICATION = "import_micromasters_data"

# How the lock holder's session is kept honest about its client (see the module docstring).
# `client_connection_check_interval` exists from PostgreSQL 14.
SESSION_SETTINGS = {
    "client_connection_check_interval": "2s",
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}
# The import's statements are each run once over a whole table; compiling them to machine code
# (JIT) costs more than it saves: 0.3 to 1 s of compilation in most steps at 200,000 learners.
# Their sorts and hashes of a few hundred thousand rows spill to disk at the default 4MB of
# work_mem. The run sets both for its own session and puts the previous values back afterwards.
RUN_SETTINGS = {"jit": "off", "work_mem": "64MB"}
# The staged copies are temporary tables, held in the session's own buffers (8MB by default),
# so a copy larger than that is written out and read back by every step. PostgreSQL lets a
# session raise them only before its first temporary table, and never put them back after: so
# the run raises them only in a session that has not used one yet (the command's own), and
# leaves them raised; they are a ceiling, allocated as the copies need them.
TEMP_BUFFERS = "256MB"
CHECK_INTERVAL_SINCE = 140000
OUR_APPLICATION_NAME = re.compile(rf"^{APPLICATION} pid=(\d+) host=(\S+)$")


class ImportInProgress(RuntimeError):
    """Another session holds the import lock."""


def application_name() -> str:
    """How an import session names itself to the server: this process's pid and host.

    A later run that finds the lock taken reads it from pg_stat_activity, to check whether
    the process that holds the lock still exists (PostgreSQL truncates it to 63 bytes; a
    truncated host name just means the check is not made).
    """
    return f"{APPLICATION} pid={os.getpid()} host={socket.gethostname()}"[:63]


def _client_state(application: str | None) -> str:
    """What this machine can say about the lock holder's client process."""
    match = OUR_APPLICATION_NAME.match(application or "")
    if not match or match.group(2) != socket.gethostname():
        return ""
    pid = int(match.group(1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass  # it exists, under another user
    return f"alive:{pid}"


def holder(cursor) -> str:
    """Who holds the lock and what it is doing, and, if its client is gone, the way out."""
    cursor.execute(
        """
        SELECT a.pid, a.usename, coalesce(host(a.client_addr), 'local socket'), a.client_port,
               a.backend_start, a.state, a.query_start, a.application_name
          FROM pg_locks l
          JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid = (%(key)s >> 32)::oid AND l.objid = (%(key)s & 4294967295)::oid
         LIMIT 1
        """,
        {"key": LOCK_KEY},
    )
    row = cursor.fetchone()
    if not row:
        return "another session"
    pid, user, host, port, since, state, query_start, application = row
    where = f"{host}:{port}" if port and port > 0 else host
    what = f"{state or 'unknown state'}"
    if state == "active" and query_start is not None:
        what = f"running a statement since {query_start:%Y-%m-%d %H:%M:%S %Z}"
    text = (
        f"session pid {pid} (role {user} from {where}, connected "
        f"{since:%Y-%m-%d %H:%M:%S %Z}, {what})"
    )
    client = _client_state(application)
    terminate = f"SELECT pg_terminate_backend({pid});"
    if client == "gone":
        client_pid = OUR_APPLICATION_NAME.match(application).group(1)
        return (
            f"{text}; its client, process {client_pid} on this host, is gone, but the "
            f"server has not ended the session yet: end it with `{terminate}` (as a "
            "superuser or the same role), then run again"
        )
    if client.startswith("alive:"):
        return f"{text}; its client, process {client.split(':')[1]} on this host, is running"
    return (
        f"{text}; if its client process is gone, end the session with `{terminate}` "
        "(as a superuser or the same role), then run again"
    )


def _keep_session_honest(cursor) -> dict[str, str]:
    """Apply SESSION_SETTINGS, RUN_SETTINGS and our application_name; return the values to
    put back."""
    cursor.execute("SELECT current_setting('server_version_num')::int")
    version = cursor.fetchone()[0]
    wanted = dict(SESSION_SETTINGS, **RUN_SETTINGS, application_name=application_name())
    if version < CHECK_INTERVAL_SINCE:
        del wanted["client_connection_check_interval"]
    previous = {}
    for name, value in wanted.items():
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, false)", [name, name, value])
        previous[name] = cursor.fetchone()[0]
    # Only before the session first touches a temporary table may temp_buffers change, and a
    # temporary table created in a rolled-back transaction (a dry run, an explain) counts
    # while leaving no temporary schema behind: so try, and keep the current size when
    # PostgreSQL refuses. A larger buffer only makes staging faster.
    cursor.execute(
        sql.SQL(
            "DO $$ BEGIN IF pg_size_bytes(current_setting('temp_buffers')) < pg_size_bytes({size})"
            " THEN PERFORM set_config('temp_buffers', {size}, false); END IF;"
            " EXCEPTION WHEN invalid_parameter_value THEN NULL; END $$"
        ).format(size=sql.Literal(TEMP_BUFFERS))
    )
    return previous


@contextmanager
def import_lock(connection):
    """Hold the import lock for the duration of the block, or raise ImportInProgress.

    While it is held, the session is watched as the module docstring says; the previous
    settings are put back when the block ends.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise ImportInProgress(f"An import run is already in progress: {holder(cursor)}.")
        previous = _keep_session_honest(cursor)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in previous.items():
                cursor.execute("SELECT set_config(%s, %s, false)", [name, value])
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


@contextmanager
def batch_lock(connection, batch):
    """Mark one run's batch as live for the duration of the block (see `live_batches`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_lock(%s::int, hashtext(%s))", [BATCH_LOCK_CLASS, str(batch)]
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s::int, hashtext(%s))", [BATCH_LOCK_CLASS, str(batch)]
            )


def live_batches(cursor, batches) -> set:
    """Which of these batches belong to a run whose session still exists.

    A batch's lock is held by its run's session from before its ledger rows are written
    until it ends, and PostgreSQL drops it with the session: a batch without it is dead.
    """
    batches = list(batches)
    if not batches:
        return set()
    cursor.execute(
        """
        SELECT b FROM unnest(%(batches)s::text[]) AS b
         WHERE EXISTS (
               SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = %(class)s::oid
                  AND l.objid = (hashtext(b)::bigint & 4294967295)::oid)
        """,
        {"batches": [str(batch) for batch in batches], "class": BATCH_LOCK_CLASS},
    )
    live = {row[0] for row in cursor.fetchall()}
    return {batch for batch in batches if str(batch) in live}
