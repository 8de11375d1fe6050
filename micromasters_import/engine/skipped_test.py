"""`--skipped`: every source row a step skips for a reason, where the run report keeps ten."""

import csv
import io
import json

import pytest
from django.core.management import CommandError
from django.db import connection

from courses.models import CourseRunGrade
from micromasters_import.engine import skipped
from micromasters_import.models import ImportRun
from micromasters_import.source import factories as mm_factories
from micromasters_import.testing import report_scenario
from micromasters_import.testing.commands import import_all, ledger_and_target, report
from micromasters_import.testing.lock import held_elsewhere


@pytest.fixture
def world(mm):
    """The report scenario, plus twelve more unlinked learners, each with a cached enrollment."""
    world = report_scenario.build()
    world.extra = [mm_factories.MMUserFactory() for _ in range(12)]
    world.extra_enrollments = [
        mm_factories.MMCachedEnrollmentFactory(user=user, course_run=world.run_a1)
        for user in world.extra
    ]
    return world


def test_every_reason_of_every_step_lists_as_many_rows_as_the_run_report_counts(world):
    batch = import_all()
    for row in batch.steps:
        if row.step == "001":
            continue
        found = skipped.collect(skipped.find_step(row.step))
        assert {code: len(ids) for code, ids in found.reasons.items()} == row.report["skipped"]
        for code, ids in found.reasons.items():
            assert ids == sorted(set(ids))
            assert ids[:10] == row.report["samples"][code], (row.step, code)


def test_more_than_ten_rows_are_all_listed_and_they_are_the_right_ones(world):
    batch = import_all()
    step_003 = batch.steps.get(step="003")
    assert step_003.report["skipped"]["no_linked_account"] == 15
    assert len(step_003.report["samples"]["no_linked_account"]) == 10

    found = skipped.collect(skipped.find_step("3"), "no_linked_account")

    assert found.reasons == {"no_linked_account": unlinked_enrollments(world)}
    assert len(found.reasons["no_linked_account"]) == 15
    assert (
        found.reasons["no_linked_account"][:10] == step_003.report["samples"]["no_linked_account"]
    )


def source_ids(table, user_ids):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM micromasters.{table} WHERE user_id = ANY(%s) ORDER BY id", [user_ids]
        )
        return [row[0] for row in cursor.fetchall()]


def unlinked_enrollments(world):
    """The cached enrollments of every learner without a mitxonline link, ascending."""
    users = [p.mm.id for p in world.unlinked] + [user.id for user in world.extra]
    ids = source_ids("dashboard_cachedenrollment", users)
    assert {e.id for e in world.extra_enrollments} <= set(ids)
    return ids


def test_listing_changes_nothing_not_even_the_ledger(world):
    import_all()
    before = ledger_and_target()
    # before any import too: the steps it needs run first, and are rolled back with it
    report(skipped=True, step="009", reason="course_not_mapped")
    report(skipped=True, step="003")
    after = ledger_and_target()
    assert after == before


def test_before_any_import_a_step_is_run_after_the_steps_it_needs(world):
    found = skipped.collect(skipped.find_step("009"), "no_imported_grade")

    # W1 has no grade at all; the other learners' grades come from step 008, run first (and
    # run only for this: nothing is kept)
    w1_certificates = source_ids("grades_micromasterscoursecertificate", [world.no_grade.mm.id])
    assert found.reasons == {"no_imported_grade": w1_certificates}
    assert (ImportRun.objects.count(), CourseRunGrade.objects.count()) == (0, 1)


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_the_command_prints_the_full_list_in_each_format(world, fmt):
    import_all()
    ids = unlinked_enrollments(world)
    output = report(skipped=True, step="003", reason="no_linked_account", format=fmt)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(output)))
        assert [int(row["source_id"]) for row in rows] == ids
        assert {(r["step"], r["reason"], r["source_table"]) for r in rows} == {
            ("003", "no_linked_account", "dashboard_cachedenrollment")
        }
    elif fmt == "json":
        data = json.loads(output)
        assert data["source_table"] == "dashboard_cachedenrollment"
        assert data["reasons"]["no_linked_account"]["rows"] == 15
        assert data["reasons"]["no_linked_account"]["ids"] == ids
        assert list(data["reasons"]) == ["no_linked_account"]
    else:
        lines = output.splitlines()
        assert lines[1] == "no linked mitxonline account (no_linked_account): 15"
        listed = [int(ref) for line in lines[2:] for ref in line.split(",")]
        assert listed == ids


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "--skipped needs --step NNN."),
        ({"step": "099"}, "--step 099: no such step skips source rows"),
        ({"step": "001"}, "--step 001: no such step skips source rows"),
        ({"step": "009", "reason": "nonsense"}, "--reason 'nonsense' is not a skip reason"),
        ({"step": "009", "reason": "inserted"}, "--reason 'inserted' is not a skip reason"),
    ],
)
def test_bad_options_are_refused_in_one_line(mm, options, message):
    with pytest.raises(CommandError) as error:
        report(skipped=True, **options)
    assert error.value.returncode == 2
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_step_and_reason_alone_are_refused(mm):
    with pytest.raises(CommandError, match="--step and --reason go with --skipped"):
        report(step="009")


def test_it_waits_for_no_import(world):
    with held_elsewhere(), pytest.raises(CommandError, match="already in progress") as error:
        report(skipped=True, step="003")
    assert error.value.returncode == 2
