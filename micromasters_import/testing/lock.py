"""The import's lock as a test sees it: held by a second operator's session, or free."""

import contextlib

from main.testing.databases import connect
from micromasters_import.engine import lock


@contextlib.contextmanager
def held_elsewhere():
    """The import lock, held by a session of its own until the block ends; yields the session."""
    with connect() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [lock.LOCK_KEY])
        yield other


def lock_is_free() -> bool:
    """Whether another session could take the import lock now (it gives it back at once)."""
    with connect() as other:
        free = other.execute("SELECT pg_try_advisory_lock(%s)", [lock.LOCK_KEY]).fetchone()[0]
        if free:
            other.execute("SELECT pg_advisory_unlock(%s)", [lock.LOCK_KEY])
    return free
