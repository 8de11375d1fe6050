"""A real MITx Online database for tests: the schema MITx Online's own `migrate` produced.

`mitxonline_migrated.sql.gz` is a schema-only dump of a database that MITx Online migrated
itself (550 migrations, with `django_migrations`, content types and permissions, no learner
data). It is kept outside this repository (`DUMP` below); without it the tests that use it
are skipped and say what they need. It is loaded with `psql`, because a `pg_dump` script (with its
`COPY ... FROM stdin` blocks) is psql's input, not a driver's.
"""

import glob
import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
from django.db import connection
from psycopg import sql

from main.testing.databases import connect as admin_connect

PROJECT_DIR = Path(__file__).resolve().parents[2]
DUMP = PROJECT_DIR.parent / "shared" / "reference" / "mitxonline_migrated.sql.gz"
MISSING = (
    f"needs {DUMP} (a database migrated by MITx Online itself, beside this project); "
    "it is not there"
)


def url(dbname: str, user: str | None = None, password: str | None = None) -> str:
    """A postgres:// URL of a database on the test server (the test's own role by default)."""
    db = connection.settings_dict
    user = user or db["USER"]
    password = db["PASSWORD"] if user == db["USER"] else password
    secret = f":{password}" if password else ""
    return f"postgres://{user}{secret}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"


def psql() -> str:
    """The psql of the PostgreSQL 15 packages, else the one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/15/bin/psql")) or [shutil.which("psql")]
    if not found[0]:
        raise RuntimeError("psql not found: install the PostgreSQL 15 client")
    return found[0]


def create_database(name: str) -> None:
    """Create an empty database, dropping a leftover of the same name first."""
    with admin_connect("postgres") as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    """Drop a test database, whoever is still connected to it."""
    with admin_connect("postgres") as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def load_dump(dbname: str) -> None:
    """Load MITx Online's migrated schema into an empty database."""
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    result = subprocess.run(
        [
            psql(),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"],
            "-d",
            dbname,
        ],
        input=gzip.decompress(DUMP.read_bytes()),
        env=env,
        capture_output=True,
    )
    if result.returncode:
        raise RuntimeError(f"psql could not load the dump: {result.stderr.decode()[-2000:]}")


SNAPSHOT_SQL = """
SELECT c.relname, c.relkind::text,
       (SELECT coalesce(json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod),
                                                  a.attnotnull, a.attidentity::text,
                                                  pg_get_expr(d.adbin, d.adrelid))
                                 ORDER BY a.attnum), '[]')
          FROM pg_attribute a LEFT JOIN pg_attrdef d
            ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT coalesce(json_agg(k.conname || ': ' || pg_get_constraintdef(k.oid)
                                 ORDER BY k.conname), '[]')
          FROM pg_constraint k WHERE k.conrelid = c.oid),
       (SELECT coalesce(json_agg(d ORDER BY d), '[]')
          FROM (SELECT pg_get_indexdef(i.indexrelid) AS d
                  FROM pg_index i WHERE i.indrelid = c.oid) i),
       (SELECT coalesce(json_agg(r.rulename || ': ' || pg_get_ruledef(r.oid)
                                 ORDER BY r.rulename), '[]')
          FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN'),
       (SELECT coalesce(json_agg(pg_get_triggerdef(t.oid) ORDER BY t.tgname), '[]')
          FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
"""


def schema_snapshot(conn: psycopg.Connection, tables=None) -> dict[str, tuple]:
    """Every relation of schema public: columns, constraints, indexes, rules and triggers.

    Names are part of it (a constraint or index renamed is a change). With `tables`, only
    those relations.
    """
    rows = conn.execute(SNAPSHOT_SQL).fetchall()
    found = {row[0]: tuple(row[1:]) for row in rows}
    if tables is not None:
        found = {name: found.get(name) for name in tables}
    return found


def data_snapshot(conn: psycopg.Connection) -> dict[str, list]:
    """What MITx Online registers about its models: migrations, content types, permissions."""
    return {
        "migrations": conn.execute(
            "SELECT app, name FROM django_migrations ORDER BY app, name"
        ).fetchall(),
        "content types": conn.execute(
            "SELECT id, app_label, model FROM django_content_type ORDER BY id"
        ).fetchall(),
        "permissions": conn.execute(
            """SELECT p.id, c.app_label, c.model, p.codename, p.name
                 FROM auth_permission p JOIN django_content_type c ON c.id = p.content_type_id
                ORDER BY p.id"""
        ).fetchall(),
    }


def mitxonline_migration_names(app: str) -> list[str]:
    """The migrations of one app recorded in the dump's `django_migrations`, in their order."""
    with gzip.open(DUMP, "rt") as dump:
        text = dump.read()
    block = text.split("COPY public.django_migrations ", 1)[1].split("\n\\.\n", 1)[0]
    pattern = re.compile(rf"^\d+\t{re.escape(app)}\t([^\t]+)\t", re.M)
    return sorted(pattern.findall(block))
