"""A re-run narrowed to the learners whose rows changed, deciding exactly as a full run would.

When a step's global fingerprint is unchanged since its last successful run and only some
learner buckets differ (see fingerprint.py), every learner outside those buckets reads what
that run read, and that run imported all of theirs there was to import. So the run stages only
the learners of the changed buckets (`staging.Buckets`), and every step runs over them.

Most rules compare a learner's rows with that learner's rows only. A few compare rows of
different learners, and a narrowed copy must keep the rows they compare with, or the run would
decide differently from a full one:

- the identity map: a uid claimed by two MicroMasters users links neither; the links and the
  map are staged whole in a narrowed run, so this is decided over everyone;
- order reference numbers (005, 006, 007, 010): a MicroMasters order reaches the MITx Online
  order with its reference number, whoever imported it, and orders sharing one compete;
- certificate hashes (009, 012, 013): a uuid is unique in MITx Online, so certificates sharing
  one compete, and 013 enrolls the holder of the uuid whichever source row carries it;
- receipt transaction ids (007): receipts sharing one compete for one transaction (only the
  ids MITx Online already holds need asking about, see `sharers`).

`sharers` finds, on the source, the learners whose rows share such a value with the staged
ones; the run adds them (`Buckets.also`) and stages again until no new learner appears, so
their rows are re-examined too, with everything their own rules compare with.
"""

import json
import math

from django.db import transaction
from psycopg import sql

from micromasters_import.engine import staging, timing

# The copies whose rows a rule compares across learners: (staged copy, the staged value,
# the source query of the users whose rows carry one of the values `%s`). A certificate's
# uuid is its hash read as 32 hex digits, in any case: the source is asked for the hashes
# that lower to one of the staged uuids' digits (a comparison postgres_fdw ships; a cast to
# uuid it does not).
SHARED_VALUES = (
    (
        "mm_order",
        "reference_number",
        "SELECT DISTINCT user_id FROM {schema}.ecommerce_order WHERE reference_number = ANY(%s)",
    ),
    (
        "mm_coursecert",
        "uuid",
        "SELECT DISTINCT user_id FROM {schema}.grades_micromasterscoursecertificate "
        "WHERE lower(hash) = ANY(%s)",
    ),
    (
        "mm_programcert",
        "uuid",
        "SELECT DISTINCT user_id FROM {schema}.grades_micromastersprogramcertificate "
        "WHERE lower(hash) = ANY(%s)",
    ),
)
# Receipts carry their transaction id inside a JSON document: the source is asked with
# containment, which postgres_fdw ships, for every JSON value that reads as the same text.
RECEIPTS = (
    "SELECT DISTINCT o.user_id FROM {schema}.ecommerce_receipt r "
    "JOIN {schema}.ecommerce_order o ON o.id = r.order_id WHERE r.data @> ANY(%s::jsonb[])"
)


def bucket_of(user_id: int, modulus: int) -> int:
    """A user's bucket as PostgreSQL's `mod` computes it (the sign of the dividend)."""
    return int(math.fmod(user_id, modulus))


def sharers(cursor, schema: str, staged: set[str]) -> set[int]:
    """The MicroMasters users whose source rows share a compared value with the staged rows."""
    found: set[int] = set()
    for name, column, query in SHARED_VALUES:
        if name not in staged:
            continue
        cursor.execute(
            sql.SQL("SELECT array_agg(DISTINCT {}) FROM pg_temp.{} WHERE {} IS NOT NULL").format(
                sql.Identifier(column), sql.Identifier(name), sql.Identifier(column)
            )
        )
        values = cursor.fetchone()[0]
        if values and column == "uuid":
            values = [value.hex for value in values]
        if values:
            with timing.phase(f"staging.sharers.{name}"):
                found |= _users(
                    cursor, sql.SQL(query).format(schema=sql.Identifier(schema)), values
                )
    if "mm_receipt" in staged:
        # Only a transaction id MITx Online holds on another order than the receipt's own can
        # be shared with a receipt that matters. A receipt of an unchanged learner that 007
        # found eligible at the last run left its transaction id there, on its own order (or
        # on the order of the receipt that outranked it), and one that was not eligible then
        # is not now: its order's reference number and its learner's link are those of the
        # last run, or it is staged already (a shared reference number). Had it outranked
        # the staged receipt, the id would be on its order, not on the staged receipt's.
        cursor.execute(
            "SELECT array_agg(DISTINCT r.transaction_id) FROM pg_temp.mm_receipt r "
            "LEFT JOIN pg_temp.mm_order o ON o.id = r.order_id "
            "WHERE r.transaction_id <> '' AND EXISTS (SELECT 1 FROM ecommerce_transaction t "
            "LEFT JOIN ecommerce_order eo ON eo.id = t.order_id "
            "WHERE t.transaction_id = r.transaction_id "
            "AND eo.reference_number IS DISTINCT FROM o.reference_number)"
        )
        ids = cursor.fetchone()[0]
        if ids:
            with timing.phase("staging.sharers.mm_receipt"):
                found |= _users(
                    cursor,
                    sql.SQL(RECEIPTS).format(schema=sql.Identifier(schema)),
                    [json.dumps({"transaction_id": value}) for value in _json_values(ids)],
                )
    return found


def _users(cursor, query: sql.Composable, values: list) -> set[int]:
    with transaction.atomic():
        cursor.execute(query, [list(values)])
        return {row[0] for row in cursor.fetchall() if row[0] is not None}


def _json_values(texts: list[str]) -> list:
    """Every JSON value whose `->>` text is one of `texts`: the string, and the number,
    boolean, array or object the text spells, if it spells one."""
    values: list = []
    for text in texts:
        values.append(text)
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if not isinstance(parsed, str) and parsed is not None:
            values.append(parsed)
    return values


def learners(cursor, staged: set[str]) -> int:
    """How many MicroMasters users the narrowed copies hold rows of."""
    keyed = [
        name
        for name in sorted(staged)
        if name in staging.STAGED_TABLES
        and staging.STAGED_TABLES[name].user_column
        and not staging.STAGED_TABLES[name].narrow
    ]
    if not keyed:
        return 0
    union = sql.SQL(" UNION ").join(
        sql.SQL("SELECT {} FROM pg_temp.{}").format(
            sql.Identifier(staging.STAGED_TABLES[name].user_column), sql.Identifier(name)
        )
        for name in keyed
    )
    cursor.execute(sql.SQL("SELECT count(*) FROM ({}) AS u").format(union))
    return cursor.fetchone()[0]
