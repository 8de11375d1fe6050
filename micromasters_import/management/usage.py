"""How the import's commands refuse: one line, exit code 2, nothing done.

The commands meet the same expected failures (another import holds the lock; an unknown run,
step, learner or proposal; an unreadable source) and turn each into a one-line CommandError
with exit code 2, the failure's own message, so that scripts can tell a refusal (2) from a
step that failed (1).
"""

import contextlib

from django.core.management.base import CommandError
from django.db import connection

from micromasters_import.mount.tables import explain_mount_error, mount_of

USAGE_ERROR = 2


@contextlib.contextmanager
def refused(*errors: type[Exception]):
    """Any of `errors` raised in the block becomes a CommandError with its message, exit code 2."""
    try:
        yield
    except errors as error:
        raise CommandError(str(error), returncode=USAGE_ERROR) from error


@contextlib.contextmanager
def reading_the_source(schema: str, failure: str):
    """An unexpected error in the block (reading MicroMasters through the mount in `schema`)
    becomes one line: `failure`, then why, naming the mount's server when it is the cause."""
    with connection.cursor() as cursor:
        mount = mount_of(cursor, schema)
    try:
        yield
    except CommandError:
        raise
    except Exception as error:
        reason = explain_mount_error(error, mount)
        raise CommandError(f"{failure}: {reason}", returncode=USAGE_ERROR) from error
