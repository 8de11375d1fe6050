"""The statements the test database connection sends, as text: a test that must show what
reaches the source (how often a table is read, which query fetches what) watches them."""

from contextlib import contextmanager

from django.db import connection
from psycopg import sql


@contextmanager
def statements_sent(wanted):
    """Yield a list that fills, while the block runs, with (text, params) of every statement
    the connection sends whose text `wanted(text)` accepts."""
    sent: list[tuple[str, object]] = []

    def capture(execute, statement, params, many, context):
        text = (
            statement.as_string(context["connection"].connection)
            if isinstance(statement, sql.Composable)
            else statement
        )
        if wanted(text):
            sent.append((text, params))
        return execute(statement, params, many, context)

    with connection.execute_wrapper(capture):
        yield sent
