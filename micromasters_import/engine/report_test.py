"""The run report: exact counts per step and per skip reason over a known mix of learners."""

from io import StringIO

import pytest
from django.core.management import call_command

from micromasters_import.engine import report
from micromasters_import.models import ImportBatch, ImportRun
from micromasters_import.testing import report_scenario
from micromasters_import.testing.report_scenario import EXPECTED_CHECKS, EXPECTED_FIRST_RUN
from micromasters_import.testing.target import target_counts


def import_all(**options):
    """Run `--all --noinput` like an operator; return (batch, {step: entry}, output)."""
    out = StringIO()
    call_command(
        "import_micromasters_data",
        all=True,
        interactive=False,
        stdout=out,
        stderr=StringIO(),
        **options,
    )
    batch = ImportBatch.objects.order_by("-id").first()
    return batch, {row.step: report.step_entry(row) for row in batch.steps}, out.getvalue()


def counts(entries):
    """The counts of every step, without samples, timings or statuses."""
    keys = ("candidates", "inserted", "already_present", "skipped")
    return {step: {key: entry[key] for key in keys} for step, entry in entries.items()}


def assert_adds_up(entries):
    for step, entry in entries.items():
        total = entry["inserted"] + entry["already_present"] + sum(entry["skipped"].values())
        assert entry["candidates"] == total, step
        assert all(n > 0 for n in entry["skipped"].values()), step


def target_rows():
    return list(target_counts().values())


@pytest.fixture
def world(mm):
    return report_scenario.build()


def test_a_full_run_reports_the_exact_counts_of_every_step_and_reason(world):
    batch, entries, _output = import_all()

    assert counts(entries) == EXPECTED_FIRST_RUN
    assert_adds_up(entries)
    assert not batch.dry_run
    assert batch.finished_on is not None
    for row in batch.steps:
        assert row.status == ImportRun.DONE
        assert row.rows_inserted == row.report["inserted"]


def test_the_counts_match_the_rows_written_and_the_samples_name_the_source_rows(world):
    before = target_rows()

    _batch, entries, _output = import_all()

    inserted = [
        entries[step]["inserted"]
        for step in ["002", "003", "008", "009", "010", "011", "012", "004", "005", "006", "007"]
    ]
    inserted[1] += entries["013"]["inserted"]  # 003 and 013 both write enrollments
    assert [after - was for after, was in zip(target_rows(), before, strict=True)] == inserted
    samples = entries["009"]["samples"]
    assert samples["revision_not_mapped"] == sorted(c.id for c in world.no_revision_certs)
    assert samples["superseded"] == [world.l1_duplicate_cert.id]
    assert samples["no_linked_account"] == sorted(
        world.course_certs[person.mm.id].id for person in world.unlinked
    )
    assert entries["002"]["samples"]["run_discontinued"] == [world.run_disc.id]
    assert entries["002"]["samples"]["conflict"] == sorted([world.run_clash.id, world.run_twin2.id])
    assert entries["002"]["samples"]["already_present"] == sorted(
        [world.run_a2.id, world.run_a3.id, world.run_d2.id]
    )


def test_a_second_run_finds_everything_already_present_and_the_same_skips(world):
    _first_batch, first, _output = import_all()
    before = target_rows()

    second_batch, second, _output = import_all()

    assert target_rows() == before
    assert counts(second) == {
        step: {
            "candidates": entry["candidates"],
            "inserted": 0,
            "already_present": entry["inserted"] + entry["already_present"],
            "skipped": entry["skipped"],
        }
        for step, entry in counts(first).items()
    }
    assert_adds_up(second)
    assert [check["status"] for check in second_batch.invariants] == [
        check["status"] for check in _first_batch.invariants
    ]


def test_a_dry_run_stores_the_same_report_as_a_real_run_and_writes_nothing(world):
    before = target_rows()

    dry_batch, dry, output = import_all(dry_run=True)

    assert target_rows() == before
    assert dry_batch.dry_run is True
    assert {row.status for row in dry_batch.steps} == {ImportRun.DRY_RUN}
    assert counts(dry) == EXPECTED_FIRST_RUN
    assert_adds_up(dry)
    assert "Rolled back (dry run)" in output
    assert "would insert" in output
    assert [check["status"] for check in dry_batch.invariants] == EXPECTED_CHECKS

    _real_batch, real, _output = import_all()

    assert counts(real) == counts(dry)
    assert {step: entry["samples"] for step, entry in real.items()} == {
        step: entry["samples"] for step, entry in dry.items()
    }


def test_a_single_transaction_run_reports_the_same_counts(world):
    _batch, entries, _output = import_all(single_transaction=True)

    assert counts(entries) == EXPECTED_FIRST_RUN


def test_the_command_prints_every_step_with_its_skip_reasons_in_words(world):
    batch, _entries, output = import_all()

    assert "009_course_certificates... OK (5 inserted, 13 skipped" in output
    assert "skipped 2: certificate revision mapping missing (CourseCertificateRevisionId)" in output
    assert "skipped 1: certificate hash is not 32 hex digits" in output
    assert "003_course_run_enrollments... OK (5 inserted, 1 already present, 11 skipped" in output
    assert "skipped 2: financial aid status not imported (skipped, reset)" in output
    assert "Checks:" in output
    assert "PASS  every imported certificate has an enrollment" in output
    assert (
        "INFO  linked MicroMasters users found in MITx Online: "
        f"{report_scenario.LINKED_LEARNERS} linked in MicroMasters, "
        f"{report_scenario.FOUND_LEARNERS} found, 2 not found"
    ) in output
    assert f"micromasters_import_report --run {batch.batch}" in output
