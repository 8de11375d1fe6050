"""The limit phases of the benchmark move exactly the rows the run moved, no more, no fewer.

Measured on the small complete world of the end-to-end test: the transfer floor copies as
many rows per source table as the run staged, and the write floor inserts, per target table,
exactly the rows the run inserted (the same rows, value for value) and their provenance.
"""

import json

import pytest
from django.db import connection, transaction
from psycopg import sql

from bench import limits
from micromasters_import.engine import timing
from micromasters_import.engine.full_import_test import (  # noqa: F401 (world is a fixture)
    give_the_runs_products,
    latest_batch_rows,
    run,
    world,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_limit_moves_exactly_what_the_run_moved(world, tmp_path, monkeypatch):  # noqa: F811
    run("--num", "002")
    give_the_runs_products(world)
    phases_file = tmp_path / "phases.jsonl"
    monkeypatch.setenv(timing.ENV, str(phases_file))
    run("--all")
    monkeypatch.delenv(timing.ENV)
    rows, batch = latest_batch_rows()
    staged = {
        entry["phase"].split(".", 1)[1]: entry["rows"]
        for entry in map(json.loads, phases_file.read_text().splitlines())
        if entry["phase"].startswith("staging.") and "rows" in entry
    }
    inserted = sum(row.rows_inserted or 0 for row in rows.values())
    assert inserted > 10

    with transaction.atomic(), connection.cursor() as cursor:
        transfer = limits.transfer(cursor)
        limits.drop_transfer(cursor)
    assert {t["table"]: t["rows"] for t in transfer} == {
        name: count for name, count in staged.items() if name in limits.needed_copies()
    }
    assert sum(t["rows"] for t in transfer) > 20

    with connection.cursor() as cursor:
        try:
            write = limits.write(cursor, batch.batch)
            by_table = {t["table"]: t["rows"] for t in write}
            provenance = by_table.pop(limits.PROVENANCE)
            assert by_table == limits.inserted_by(cursor, batch.batch)
            assert sum(by_table.values()) == inserted == provenance
            for table, count in by_table.items():
                cursor.execute(
                    sql.SQL(
                        "SELECT count(*) FROM {s}.{t} c JOIN {t} o ON o.id = c.id "
                        "AND row(c.*)::text = row(o.*)::text"
                    ).format(s=sql.Identifier(limits.WRITE_SCHEMA), t=sql.Identifier(table))
                )
                assert cursor.fetchone()[0] == count, table
            # The copies keep the constraints: a second insert of the same rows fails.
            table = next(iter(by_table))
            with pytest.raises(Exception, match="duplicate key"), transaction.atomic():
                cursor.execute(
                    sql.SQL("INSERT INTO {s}.{t} SELECT * FROM {s}.{t}").format(
                        s=sql.Identifier(limits.WRITE_SCHEMA), t=sql.Identifier(table)
                    )
                )
        finally:
            limits.drop_write(cursor)
