"""`micromasters_import_report`: a stored run as a table, JSON or CSV, and one learner explained."""

import csv
import io
import json
import uuid

import pytest
from django.core.management import CommandError
from django.db import connection

from micromasters_import.engine import outcomes
from micromasters_import.models import ImportedRow, ImportRun
from micromasters_import.testing import report_scenario
from micromasters_import.testing.commands import import_all, ledger_and_target
from micromasters_import.testing.commands import report as show
from micromasters_import.testing.lock import held_elsewhere
from micromasters_import.testing.report_scenario import EXPECTED_CHECKS, EXPECTED_FIRST_RUN


@pytest.fixture
def world(mm):
    return report_scenario.build()


@pytest.fixture
def runs(world):
    """A dry run, then a real run, of the known mix."""
    return import_all(dry_run=True), import_all()


def test_the_latest_run_is_shown_as_a_table_with_every_step_and_reason_in_words(runs):
    _dry, real = runs

    output = show()

    assert output.startswith(f"Run {real.batch} by ")
    lines = output.splitlines()
    line_009 = next(line for line in lines if line.startswith("009_course_certificates"))
    assert line_009.split()[1:] == ["done", "18", "5", "0", "13"]
    assert "    certificate revision mapping missing (CourseCertificateRevisionId)" in output
    assert "    no linked mitxonline account" in output
    assert "    financial aid status not imported (skipped, reset)" in output
    assert "Checks:" in output
    assert "INFO  linked MicroMasters users found in MITx Online" in output
    for step in EXPECTED_FIRST_RUN:
        assert any(line.startswith(f"{step}_") for line in lines), step


def test_a_run_is_found_by_its_batch_uuid_or_by_any_of_its_ledger_rows(runs):
    dry, real = runs
    ledger_row = ImportRun.objects.get(batch=dry.batch, step="005")

    by_uuid = show(run=str(dry.batch))
    by_row = show(run=str(ledger_row.id))

    assert by_uuid.startswith(f"Dry run {dry.batch} by ")
    assert by_row == by_uuid
    assert show(run=str(real.batch)).startswith(f"Run {real.batch} ")


def test_json_has_the_run_its_steps_with_their_counts_and_the_checks(runs):
    _dry, real = runs

    data = json.loads(show(format="json"))

    assert data["batch"] == str(real.batch)
    assert data["dry_run"] is False
    assert data["options"]["all"] is True
    assert data["finished"] is not None
    assert [entry["step"] for entry in data["steps"]] == sorted(EXPECTED_FIRST_RUN)
    assert {
        entry["step"]: {key: entry[key] for key in EXPECTED_FIRST_RUN["002"]}
        for entry in data["steps"]
    } == EXPECTED_FIRST_RUN
    assert {entry["status"] for entry in data["steps"]} == {"done"}
    certificates = next(entry for entry in data["steps"] if entry["step"] == "009")
    assert len(certificates["samples"]["revision_not_mapped"]) == 2
    assert [check["status"] for check in data["invariants"]] == EXPECTED_CHECKS
    assert set(data["invariants"][0]) == {"name", "status", "detail", "sample"}


def test_csv_has_one_row_per_step_outcome_and_per_check(runs, world):
    rows = list(csv.reader(io.StringIO(show(format="csv"))))

    assert rows[0] == [
        "kind",
        "step",
        "name",
        "status",
        "outcome",
        "description",
        "rows",
        "sample",
    ]
    step_rows = [row for row in rows[1:] if row[0] == "step"]
    check_rows = [row for row in rows[1:] if row[0] == "check"]
    assert len(step_rows) == sum(3 + len(entry["skipped"]) for entry in EXPECTED_FIRST_RUN.values())
    assert len(check_rows) == 6
    assert len(rows) == 1 + len(step_rows) + len(check_rows)
    assert {row[3] for row in step_rows} == {"done"}
    by_outcome = {(row[1], row[4]): row for row in step_rows}
    for step, expected in EXPECTED_FIRST_RUN.items():
        assert int(by_outcome[step, "candidates"][6]) == expected["candidates"]
        assert int(by_outcome[step, "inserted"][6]) == expected["inserted"]
        assert int(by_outcome[step, "already_present"][6]) == expected["already_present"]
        for code, count in expected["skipped"].items():
            assert int(by_outcome[step, code][6]) == count
            assert by_outcome[step, code][5] == outcomes.describe(code)
    revision = by_outcome["009", "revision_not_mapped"]
    assert revision[2] == "course_certificates"
    assert revision[7].split() == [str(cert.id) for cert in world.no_revision_certs]


def test_no_run_at_all_is_a_usage_error(db):
    with pytest.raises(CommandError, match="no record of any run") as error:
        show()

    assert error.value.returncode == 2


@pytest.mark.parametrize("run", ["999999", str(uuid.uuid4()), "not-a-run"])
def test_an_unknown_run_is_a_usage_error(runs, run):
    with pytest.raises(CommandError, match="no record of run") as error:
        show(run=run)

    assert error.value.returncode == 2


def test_a_rerun_that_found_nothing_changed_is_stored_and_shown_as_unchanged(runs):
    _dry, real = runs
    again = import_all()

    data = json.loads(show(format="json"))
    table = show()
    rows = list(csv.reader(io.StringIO(show(format="csv"))))

    assert data["batch"] == str(again.batch)
    writing = [entry for entry in data["steps"] if entry["step"] != "001"]
    assert {entry["status"] for entry in writing} == {"unchanged"}
    assert {entry["unchanged_since"] for entry in writing} == {str(real.batch)}
    assert {entry["inserted"] for entry in writing} == {0}
    line_009 = next(line for line in table.splitlines() if line.startswith("009_"))
    assert line_009.split()[1] == "unchanged"
    assert f"    unchanged since run {real.batch}: nothing to do" in table
    assert {row[3] for row in rows[1:] if row[0] == "step" and row[1] != "001"} == {"unchanged"}
    # the ledger keeps the row `done`: only its report says it was skipped as unchanged
    assert ImportRun.objects.get(batch=again.batch, step="009").status == ImportRun.DONE


# -- --explain-user ---------------------------------------------------------------------------


def explained_steps(output):
    """{step label: [its lines]} from an explanation."""
    steps, current = {}, None
    for line in output.splitlines()[1:]:
        if not line.startswith("    "):
            current = line.split(" ")[0]
            steps[current] = []
        else:
            steps[current].append(line.strip())
    return steps


def test_a_learner_is_explained_by_micromasters_username_id_or_mitxonline_username(world):
    b1 = world.no_revision[0]
    certificate = world.no_revision_certs[0]
    before = ledger_and_target()

    outputs = [
        show(explain_user=b1.mm.username),
        show(explain_user=str(b1.mm.id)),
        show(explain_user=b1.social.uid),
    ]

    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].splitlines()[0] == (
        f"MicroMasters user {b1.mm.id} ({b1.mm.username}); MITx Online username: {b1.social.uid}"
    )
    steps = explained_steps(outputs[0])
    assert steps["009_course_certificates"] == [
        f"grades_micromasterscoursecertificate {certificate.id}: "
        "certificate revision mapping missing (CourseCertificateRevisionId)"
    ]
    assert len(steps["003_course_run_enrollments"]) == 1
    assert steps["003_course_run_enrollments"][0].endswith(": would be inserted")
    assert steps["008_combined_final_grades"][0].endswith(": would be inserted")
    assert steps["011_program_enrollments"] == ["no rows of this learner"]
    assert steps["002_course_runs"] == ["(catalogue step: see the run report)"]
    assert ledger_and_target() == before
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 0  # the lock was released
        cursor.execute("SELECT to_regclass('pg_temp.mm_learner')")
        assert cursor.fetchone()[0] is None  # and the staged copy rolled back


def test_after_the_import_the_learners_rows_are_already_present(world):
    batch = import_all()
    l1 = world.good[0]
    before = ledger_and_target()

    steps = explained_steps(show(explain_user=l1.mm.username))

    def traced(step, source_table, source_id):
        row = ImportedRow.objects.select_related("ledger").get(
            ledger__step=step, source_table=source_table, source_id=source_id
        )
        return (
            f"{source_table} {source_id}: imported by run {batch.batch} "
            f"({row.ledger.started_on:%Y-%m-%d %H:%M}), step {step}, as "
            f"{row.target_table} {row.target_id}"
        )

    certificate = world.course_certs[l1.mm.id]
    assert steps["009_course_certificates"] == [
        f"grades_micromasterscoursecertificate {certificate.id}: already present in MITx Online",
        f"grades_micromasterscoursecertificate {world.l1_duplicate_cert.id}: "
        "another source row for the same target row was chosen",
        traced("009", "grades_micromasterscoursecertificate", certificate.id),
    ]
    assert steps["003_course_run_enrollments"][0].endswith(": already present in MITx Online")
    assert steps["005_orders"] == [
        f"ecommerce_order {world.l1_order.id}: already present in MITx Online",
        traced("005", "ecommerce_order", world.l1_order.id),
    ]
    assert len(steps["006_order_lines"]) == 3  # two lines, already present, each traced
    assert steps["006_order_lines"][0].endswith(": already present in MITx Online")
    assert all(": imported by run " in line for line in steps["006_order_lines"][1:])
    assert "(first" not in steps["006_order_lines"][0]
    assert ledger_and_target() == before


def test_a_learner_without_a_linked_account_is_explained_as_such(world):
    n1 = world.unlinked[0]

    output = show(explain_user=n1.mm.username)

    assert output.splitlines()[0].endswith("MITx Online username: no linked mitxonline account")
    steps = explained_steps(output)
    for label in ["003_course_run_enrollments", "009_course_certificates", "005_orders"]:
        assert steps[label][0].endswith(": no linked mitxonline account"), label


def test_an_unknown_learner_is_a_usage_error(world):
    with pytest.raises(CommandError, match="No MicroMasters user") as error:
        show(explain_user="nobody-at-all")

    assert error.value.returncode == 2


def test_explaining_while_an_import_runs_is_a_usage_error(world):
    with held_elsewhere(), pytest.raises(CommandError, match="already in progress") as error:
        show(explain_user=world.good[0].mm.username)

    assert error.value.returncode == 2


@pytest.mark.parametrize(
    ("options", "failure"),
    [
        ({"explain_user": "anyone"}, "Cannot read the MicroMasters source in schema 'nowhere': "),
        ({"skipped": True, "step": "003"}, "Cannot list the rows step 003 skips: "),
    ],
)
def test_a_source_that_cannot_be_read_is_one_line_with_why(world, options, failure):
    with pytest.raises(CommandError) as error:
        show(source_schema="nowhere", **options)

    assert error.value.returncode == 2
    assert str(error.value).startswith(failure)
    assert "nowhere" in str(error.value).removeprefix(failure)
    assert "\n" not in str(error.value)
