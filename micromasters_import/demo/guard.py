"""Whether the demo may write into the default database: never into a real MITx Online.

`create_micromasters_demo` writes thousands of fake learners, their accounts, a catalogue and
ID mappings into whatever DATABASE_URL names, and it ships inside MITx Online's own
`manage.py`, one typo away from production. So before it writes anything it checks that the
database is the demo's own, and refuses otherwise (the operator may override that, with a
flag whose name says what it does). A database is refused when:

* the app runs inside MITx Online rather than this project's stand-in tables
  (`MICROMASTERS_IMPORT_STANDINS` is not set), or this project is pointed at a real MITx
  Online database (`MITXONLINE_TARGET = "mitxonline"`);
* or it holds a user, program, course or order that the demo did not make. The demo
  recognises its own rows by the marks it has written since its first version, so a
  database filled by an older demo is still its own:

  - a learner has the username `first_last_N` and the e-mail `first.lastN@example.com`,
    with names from the demo's lists (example.com is reserved for examples, RFC 2606, so
    no real learner has it); the admin `scripts/demo` makes has the e-mail `DEMO_ADMIN_EMAIL`;
  - a program or course has a readable id of the demo catalogue;
  - an order (the demo makes none: the import brings them over from the demo source) has a
    MicroMasters reference number `MM-prod-N` and a demo learner as purchaser.

Tables that do not exist yet (before `migrate`) hold nothing real, so `scripts/demo` can run
the check before it migrates anything.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from micromasters_import import app_settings
from micromasters_import.demo import catalog
from micromasters_import.demo.pseudorandom import FIRST_NAMES, LAST_NAMES

OVERRIDE_FLAG = "--allow-real-database"
# The e-mail of the admin login scripts/demo makes (it writes the same literal).
DEMO_ADMIN_EMAIL = "demo-admin@example.com"
# How many ids of rows the demo did not make the refusal names, per table.
SAMPLE = 3


def mitxonline_itself() -> str | None:
    """Why the settings say this database is MITx Online's own, or None for the stand-ins."""
    if not app_settings.uses_standins():
        return "this is MITx Online itself (MICROMASTERS_IMPORT_STANDINS is not set)"
    if getattr(settings, "MITXONLINE_TARGET", "standins") == "mitxonline":
        return 'MITXONLINE_TARGET is "mitxonline"'
    return None


def _demo_user_sql(alias: str) -> str:
    """A condition true for a user the demo made (never NULL), on `alias` of users_user."""
    username, email = f"{alias}.username", f"{alias}.email"
    first, last, number = (f"split_part({username}, '_', {n})" for n in (1, 2, 3))
    return f"""coalesce(
        ({username} ~ '^[a-z]+_[a-z]+_[0-9]+$'
         AND {first} = ANY(%(first_names)s) AND {last} = ANY(%(last_names)s)
         AND {email} = {first} || '.' || {last} || {number} || '@example.com')
        OR ({username} = 'admin' AND {email} = %(admin_email)s), false)"""


def _queries() -> list[tuple[str, str]]:
    """(table, query of the first ids of rows the demo did not make) for each checked table."""
    user_model = get_user_model()
    users = user_model._meta.db_table
    program = apps.get_model("courses", "Program")._meta.db_table
    course = apps.get_model("courses", "Course")._meta.db_table
    order_model = apps.get_model("ecommerce", "Order")
    order = order_model._meta.db_table
    purchaser = order_model._meta.get_field("purchaser").column
    limit = SAMPLE + 1
    return [
        (
            users,
            f"SELECT u.id FROM {users} u WHERE NOT {_demo_user_sql('u')} ORDER BY u.id"
            f" LIMIT {limit}",
        ),
        (
            program,
            f"SELECT id FROM {program} WHERE NOT coalesce(readable_id = ANY(%(programs)s), false)"
            f" ORDER BY id LIMIT {limit}",
        ),
        (
            course,
            f"SELECT id FROM {course} WHERE NOT coalesce(readable_id = ANY(%(courses)s), false)"
            f" ORDER BY id LIMIT {limit}",
        ),
        (
            order,
            f"""SELECT o.id FROM {order} o LEFT JOIN {users} u ON u.id = o.{purchaser}
                 WHERE NOT (coalesce(o.reference_number ~ '^MM-prod-[0-9]+$', false)
                            AND u.id IS NOT NULL AND {_demo_user_sql("u")})
                 ORDER BY o.id LIMIT {limit}""",
        ),
    ]


def rows_not_made_by_demo() -> dict[str, list[int]]:
    """The first ids (up to SAMPLE + 1) of rows the demo did not make, per checked table.

    Reads only: the ORDER BY id LIMIT walks the primary key, so a real MITx Online with
    millions of users answers at once. A table that does not exist yet is skipped.
    """
    params = {
        "first_names": [name.lower() for name in FIRST_NAMES],
        "last_names": [name.lower() for name in LAST_NAMES],
        "admin_email": DEMO_ADMIN_EMAIL,
        "programs": [program.readable_id for program in catalog.PROGRAMS],
        "courses": [course.readable_id for course in catalog.COURSES],
    }
    found = {}
    with connection.cursor() as cursor:
        for table, query in _queries():
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
            if not cursor.fetchone()[0]:
                continue
            cursor.execute(query, params)
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                found[table] = ids
    return found


def _describe(found: dict[str, list[int]]) -> str:
    """`users_user id 1, 2, 3, ...; courses_course id 7`: what the refusal points at."""
    parts = []
    for table, ids in found.items():
        shown = ", ".join(str(pk) for pk in ids[:SAMPLE])
        parts.append(f"{table} id {shown}{', ...' if len(ids) > SAMPLE else ''}")
    return "; ".join(parts)


def refusal() -> str | None:
    """The one-line reason the demo must not write into the default database, or None.

    Checked before anything is written; `OVERRIDE_FLAG` is the operator's way past it.
    """
    dbname = connection.settings_dict["NAME"]
    reason = mitxonline_itself()
    if reason is None:
        found = rows_not_made_by_demo()
        if found:
            reason = f"it has rows create_micromasters_demo did not make ({_describe(found)})"
    if reason is None:
        return None
    return (
        f'refusing to write demo data into database "{dbname}": {reason}; '
        f"pass {OVERRIDE_FLAG} only if it is really meant to receive fake learners"
    )
