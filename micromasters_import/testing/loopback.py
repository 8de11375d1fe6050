"""The test database's own source schema, mounted back into it through a real postgres_fdw.

Production reads MicroMasters through foreign tables; tests that must go the same way mount
the suite's plain `micromasters` tables again under another schema. The superuser connects to
its own cluster, so no password is involved; the source rows must be committed, since the
foreign server reads through another session.
"""

from contextlib import contextmanager

from django.db import connection
from psycopg import sql


@contextmanager
def loopback_mount(source_schema: str, server: str, schema: str, tables=(), **options):
    """Mount `source_schema` (only `tables`, if given) as `schema`; remove it afterwards."""
    db = connection.settings_dict
    server_options = {
        "host": db["HOST"] or "127.0.0.1",
        "port": str(db["PORT"] or 5432),
        "dbname": db["NAME"],
        **options,
    }
    limit = (
        sql.SQL(" LIMIT TO ({})").format(sql.SQL(", ").join(map(sql.Identifier, tables)))
        if tables
        else sql.SQL("")
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
        cursor.execute(
            sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({})").format(
                sql.Identifier(server),
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(key), sql.Literal(value))
                    for key, value in server_options.items()
                ),
            )
        )
        cursor.execute(
            sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS (user {})").format(
                sql.Identifier(server), sql.Literal(db["USER"] or "postgres")
            )
        )
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cursor.execute(
            sql.SQL("IMPORT FOREIGN SCHEMA {}{} FROM SERVER {} INTO {}").format(
                sql.Identifier(source_schema), limit, sql.Identifier(server), sql.Identifier(schema)
            )
        )
    try:
        yield schema
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
            cursor.execute(
                sql.SQL("DROP SERVER IF EXISTS {} CASCADE").format(sql.Identifier(server))
            )
