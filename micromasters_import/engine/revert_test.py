"""Provenance of every imported row, and `import_micromasters_data --revert RUN`.

The world is the run report's known mix (report_scenario), imported with the plain-table
source. A revert must leave every MITx Online table exactly as before the import (row hashes
of every table but the ledger and provenance), keep what changed or what other rows now
reference, list it, and be recorded; a dry run and a second revert change nothing.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from micromasters_import.models import ImportBatch, ImportedRow, ImportRun
from micromasters_import.testing import report_scenario
from micromasters_import.testing.commands import import_all
from micromasters_import.testing.lock import held_elsewhere

LEDGER_TABLES = {
    "micromasters_import_importrun",
    "micromasters_import_importbatch",
    "micromasters_import_importedrow",
}


def command(*args, **options):
    out = StringIO()
    call_command("import_micromasters_data", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def revert(batch, **options):
    return command(revert=str(batch.batch), interactive=False, **options)


def table_hashes():
    """An order-independent digest of every row of every table but the ledger's."""
    with connection.cursor() as cursor:
        cursor.execute("""SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1""")
        tables = [name for (name,) in cursor.fetchall() if name not in LEDGER_TABLES]
        digests = {}
        for table in tables:
            cursor.execute(
                f"SELECT count(*), md5(string_agg(md5(t::text), ',' ORDER BY md5(t::text))) "
                f'FROM "{table}" t'
            )
            digests[table] = cursor.fetchone()
    return digests


@pytest.fixture
def world(mm):
    return report_scenario.build()


@pytest.fixture
def imported(world):
    before = table_hashes()
    batch = import_all()
    return before, batch


# -- provenance -----------------------------------------------------------------------------

OWNER_OF_ORDER = "(SELECT o.user_id FROM micromasters.ecommerce_order o WHERE o.id = s.order_id)"
# For each source table: the MicroMasters user who owns a row (`s` is the source row).
SOURCE_OWNER = {
    "dashboard_cachedenrollment": "s.user_id",
    "grades_finalgrade": "s.user_id",
    "grades_micromasterscoursecertificate": "s.user_id",
    "grades_micromastersprogramcertificate": "s.user_id",
    "dashboard_programenrollment": "s.user_id",
    "financialaid_financialaid": "s.user_id",
    "ecommerce_order": "s.user_id",
    "ecommerce_line": OWNER_OF_ORDER,
    "ecommerce_receipt": OWNER_OF_ORDER,
}
# For each target table: the MITx Online user who holds a row (`t` is the target row).
TARGET_HOLDER = {
    "courses_courserunenrollment": "t.user_id",
    "courses_courserungrade": "t.user_id",
    "courses_courseruncertificate": "t.user_id",
    "courses_programcertificate": "t.user_id",
    "courses_programenrollment": "t.user_id",
    "courses_paidcourserun": "t.user_id",
    "flexiblepricing_flexibleprice": "t.user_id",
    "ecommerce_order": "t.purchaser_id",
    "ecommerce_line": "(SELECT o.purchaser_id FROM ecommerce_order o WHERE o.id = t.order_id)",
    "ecommerce_transaction": (
        "(SELECT o.purchaser_id FROM ecommerce_order o WHERE o.id = t.order_id)"
    ),
}
# Keys a target row keeps from its source row, beyond its owner.
SAME_KEY = {
    ("courses_courserun", "courses_courserun"): "t.courseware_id = s.edx_course_key",
    ("ecommerce_order", "ecommerce_order"): "t.reference_number = s.reference_number",
    ("ecommerce_transaction", "ecommerce_receipt"): "t.transaction_id = s.data->>'transaction_id'",
    ("courses_courseruncertificate", "grades_micromasterscoursecertificate"): (
        "t.uuid = s.hash::uuid"
    ),
    ("courses_programcertificate", "grades_micromastersprogramcertificate"): (
        "t.uuid = s.hash::uuid"
    ),
}


def test_every_inserted_row_has_exactly_one_provenance_row(imported):
    _, batch = imported
    done = ImportRun.objects.filter(batch=batch.batch, status=ImportRun.DONE)
    expected = sum(step["inserted"] for step in report_scenario.EXPECTED_FIRST_RUN.values())
    assert sum(row.rows_inserted for row in done) == expected > 40
    for row in done:
        provenance = ImportedRow.objects.filter(ledger=row)
        assert provenance.count() == row.rows_inserted, row.step
        assert len({(p.target_table, p.target_id) for p in provenance}) == row.rows_inserted
    with connection.cursor() as cursor:
        for table in ImportedRow.objects.values_list("target_table", flat=True).distinct():
            cursor.execute(
                f"""SELECT count(*) FROM micromasters_import_importedrow p
                     LEFT JOIN "{table}" t ON t.id = p.target_id
                    WHERE p.target_table = %s AND (t.id IS NULL OR md5(t::text) <> p.row_hash)""",
                [table],
            )
            assert cursor.fetchone()[0] == 0, f"{table}: provenance row without its row"


def test_each_provenance_row_names_the_source_row_that_produced_its_target_row(imported):
    pairs = ImportedRow.objects.values_list("target_table", "source_table").distinct()
    checked = 0
    with connection.cursor() as cursor:
        for target, source in pairs:
            conditions = []
            if target in TARGET_HOLDER and source in SOURCE_OWNER:
                # The target's holder is the MITx Online account linked to the source's owner.
                conditions.append(
                    f"""{TARGET_HOLDER[target]} = (
                        SELECT u.id FROM users_user u
                          JOIN micromasters.social_auth_usersocialauth a
                            ON a.uid = u.username AND a.provider = 'mitxonline'
                         WHERE a.user_id = {SOURCE_OWNER[source]})"""
                )
            if (target, source) in SAME_KEY:
                conditions.append(SAME_KEY[(target, source)])
            assert conditions, (target, source)
            cursor.execute(
                f"""SELECT count(*), count(*) FILTER (WHERE {" AND ".join(conditions)})
                      FROM micromasters_import_importedrow p
                      JOIN "{target}" t ON t.id = p.target_id
                      JOIN micromasters."{source}" s ON s.id = p.source_id
                     WHERE p.target_table = %s AND p.source_table = %s""",
                [target, source],
            )
            total, matching = cursor.fetchone()
            assert total == matching > 0, (target, source, total, matching)
            checked += 1
    assert checked >= 10


def test_a_dry_run_leaves_no_provenance(world):
    command(all=True, interactive=False, dry_run=True)
    assert ImportedRow.objects.count() == 0


# -- revert ---------------------------------------------------------------------------------


def test_a_revert_leaves_every_table_as_it_was_before_the_import(imported):
    before, batch = imported
    assert table_hashes() != before

    output = revert(batch)

    assert table_hashes() == before
    assert ImportedRow.objects.count() == 0
    assert "Deleted what run" in output
    batch.refresh_from_db()
    assert batch.reverted_on is not None
    assert set(ImportRun.objects.filter(batch=batch.batch).values_list("status", flat=True)) <= {
        ImportRun.REVERTED,
        ImportRun.DONE,  # steps that inserted nothing stay as they were
    }
    record = ImportBatch.objects.order_by("-id").first()
    assert record.options["revert"] == str(batch.batch)
    assert record.options["result"]["kept_total"] == 0
    assert sum(record.options["result"]["deleted"].values()) == sum(
        row.rows_inserted or 0 for row in ImportRun.objects.filter(batch=batch.batch)
    )


def test_a_revert_keeps_a_changed_row_and_a_referenced_row_and_lists_them(imported):
    _, batch = imported
    grade = ImportedRow.objects.filter(target_table="courses_courserungrade").first()
    enrollment = ImportedRow.objects.filter(target_table="courses_courserunenrollment").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE courses_courserungrade SET grade = 0.42 WHERE id = %s", [grade.target_id]
        )
        cursor.execute(
            """CREATE TABLE enrollment_audit (
                   id serial PRIMARY KEY,
                   enrollment_id integer REFERENCES courses_courserunenrollment (id))"""
        )
        cursor.execute(
            "INSERT INTO enrollment_audit (enrollment_id) VALUES (%s)", [enrollment.target_id]
        )
        cursor.execute(
            "SELECT run_id FROM courses_courserunenrollment WHERE id = %s",
            [enrollment.target_id],
        )
        run_id = cursor.fetchone()[0]

    output = revert(batch)

    assert f"courses_courserungrade {grade.target_id}: changed since the import" in output
    assert (
        f"courses_courserunenrollment {enrollment.target_id}: "
        "referenced by enrollment_audit.enrollment_id"
    ) in output
    with connection.cursor() as cursor:
        cursor.execute("SELECT grade FROM courses_courserungrade WHERE id = %s", [grade.target_id])
        assert float(cursor.fetchone()[0]) == 0.42
        cursor.execute(
            "SELECT count(*) FROM courses_courserunenrollment WHERE id = %s",
            [enrollment.target_id],
        )
        assert cursor.fetchone()[0] == 1
        # Everything else the run inserted is gone, except what the kept rows hold on to.
        cursor.execute(
            """SELECT p.target_table, p.target_id FROM micromasters_import_importedrow p
                ORDER BY 1, 2"""
        )
        remaining = cursor.fetchall()
    imported_runs = ImportedRow.objects.filter(target_table="courses_courserun")
    assert ("courses_courserungrade", grade.target_id) in remaining
    assert ("courses_courserunenrollment", enrollment.target_id) in remaining
    kept_tables = {table for table, _ in remaining}
    assert kept_tables <= {
        "courses_courserungrade",
        "courses_courserunenrollment",
        "courses_courserun",
    }
    if imported_runs.filter(target_id=run_id).exists():
        assert ("courses_courserun", run_id) in remaining


def test_a_dry_run_revert_lists_what_it_would_delete_and_changes_nothing(imported):
    _, batch = imported
    after_import = table_hashes()
    provenance = ImportedRow.objects.count()

    output = revert(batch, dry_run=True)

    assert "Would delete what run" in output
    assert "Rolled back (dry run): nothing was changed." in output
    assert table_hashes() == after_import
    assert ImportedRow.objects.count() == provenance
    batch.refresh_from_db()
    assert batch.reverted_on is None


def test_reverting_twice_changes_nothing_and_a_later_import_brings_the_rows_back(imported):
    before, batch = imported
    after_import = table_hashes()
    revert(batch)
    batches = ImportBatch.objects.count()

    again = revert(batch)

    assert "has nothing to revert (reverted on" in again
    assert ImportBatch.objects.count() == batches
    assert table_hashes() == before
    reimport = import_all()
    assert sum(r.rows_inserted or 0 for r in ImportRun.objects.filter(batch=reimport.batch)) == sum(
        r.rows_inserted or 0 for r in ImportRun.objects.filter(batch=batch.batch)
    )
    assert {t: n for t, (n, _) in table_hashes().items()} == {
        t: n for t, (n, _) in after_import.items()
    }


def test_a_revert_needs_the_import_lock(imported):
    _, batch = imported
    with held_elsewhere(), pytest.raises(CommandError, match="already in progress") as error:
        revert(batch)
    assert error.value.returncode == 2
    batch.refresh_from_db()
    assert batch.reverted_on is None


def test_an_unknown_run_or_a_dry_run_cannot_be_reverted(world):
    with pytest.raises(CommandError, match="No import run") as error:
        command(revert="not-a-run", interactive=False)
    assert error.value.returncode == 2
    command(all=True, interactive=False, dry_run=True)
    dry = ImportBatch.objects.order_by("-id").first()
    with pytest.raises(CommandError, match="was a dry run") as error:
        revert(dry)
    assert error.value.returncode == 2
