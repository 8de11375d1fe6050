"""A PostgreSQL advisory lock, so that two operators can never run the import at once.

Two concurrent runs would race on the anti-joins that make the steps idempotent and could
insert the same rows twice. A session-level advisory lock is released by PostgreSQL itself
when the session ends, so a killed run never leaves a stale lock behind.
"""

from contextlib import contextmanager

LOCK_KEY = 7_263_021_001  # an arbitrary constant that identifies this tool's lock


class ImportInProgress(RuntimeError):
    """Another session holds the import lock."""


def holder(cursor) -> str:
    """Who holds the lock, as much as the server tells: pid, role, host and since when."""
    cursor.execute(
        """
        SELECT a.pid, a.usename, coalesce(a.client_addr::text, 'local'), a.backend_start
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
    pid, user, host, since = row
    return f"session pid {pid} (role {user} from {host}, connected {since:%Y-%m-%d %H:%M:%S %Z})"


@contextmanager
def import_lock(connection):
    """Hold the import lock for the duration of the block, or raise ImportInProgress."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise ImportInProgress(f"An import run is already in progress: {holder(cursor)}.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
