"""Tests of how `import_micromasters_data` behaves for an operator, not of each step's rule.

Selection, --list, preflight, confirmation, transactions, the lock, the ledger, the output
and the exit codes. Most tests run inside the test's transaction (the command's own
transactions become savepoints), so DDL that breaks the world on purpose (a renamed schema,
a NOT NULL column, a CHECK constraint) rolls back with the test. The tests that must see
what really was committed use `mm_transactional` and a second connection.
"""

import os
import re
import select
import time
import tracemalloc
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.urls import reverse

from courses.factories import CourseFactory, ProgramFactory
from courses.models import CourseRun, ProgramEnrollment
from main.testing.databases import connect as other_connection
from micromasters_import.engine import lock, progress
from micromasters_import.engine.steps import SQL_DIR, discover
from micromasters_import.factories import ImportRunFactory, ProgramTierIdFactory
from micromasters_import.management.commands import import_micromasters_data as command
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportBatch,
    ImportRun,
    ProgramId,
)
from micromasters_import.source import factories as mm_factories
from micromasters_import.testing.lock import held_elsewhere, lock_is_free
from users.factories import UserFactory
from wagtailcore.factories import RevisionFactory

ALL_NUMS = [f"{n:03d}" for n in range(1, 14)]
STEPS = {step.num: step for step in discover()}
APPLIED = re.compile(
    r"^  Applying (?P<label>\d{3}_[a-z0-9_]+)\.\.\. OK "
    r"\((?P<inserted>\d+) inserted[^;]*; (?P<seconds>\d+\.\d\d)s\)$",
    re.MULTILINE,
)


# -- helpers --------------------------------------------------------------------------------


def run(*args, **options):
    """Run the command like an operator would, returning (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(
        "import_micromasters_data", *args, stdout=out, stderr=err, no_color=True, **options
    )
    return out.getvalue(), err.getvalue()


def run_failing(*args, **options):
    """Run the command expecting a CommandError; returns (error, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "import_micromasters_data", *args, stdout=out, stderr=err, no_color=True, **options
        )
    return raised.value, out.getvalue(), err.getvalue()


def refused(*args) -> str:
    """The command refuses `args` before writing anything, with exit code 2; its message."""
    error, _, _ = run_failing(*args)
    assert error.returncode == 2
    assert_nothing_written()
    return str(error)


def statuses():
    """{step: status} of the latest command run."""
    batch = ImportRun.objects.order_by("-id").values_list("batch", flat=True).first()
    return dict(ImportRun.objects.filter(batch=batch).values_list("step", "status"))


def applied(output):
    """{label: rows inserted} for each `Applying ... OK` line of the output, in order."""
    return {m["label"]: int(m["inserted"]) for m in APPLIED.finditer(output)}


def plan_line(output, num):
    """The `--list` line of one step."""
    (line,) = [line for line in output.splitlines() if line.strip().startswith(f"{num}_")]
    return line


def assert_nothing_written():
    assert ImportRun.objects.count() == 0
    assert ImportBatch.objects.count() == 0
    assert CourseRun.all_objects.count() == 0
    assert ProgramEnrollment.objects.count() == 0


def use_steps(monkeypatch, directory: Path, files: dict[str, str]):
    """Make the command see the step files in `directory` instead of the shipped ones."""
    for name, text in files.items():
        (directory / name).write_text(text)
    monkeypatch.setattr(command, "discover", lambda: discover(directory))


def shipped(num):
    """The shipped step file as written (the loader appends the shared tail to a copy too)."""
    return STEPS[num].text


# -- worlds -----------------------------------------------------------------------------------


def mapped_course():
    """A MicroMasters course mapped (CourseId, certificate revision) to a MITx Online course."""
    mm_course = mm_factories.MMCourseFactory()
    course = CourseFactory()
    CourseId.objects.create(micromasters_id=mm_course.id, course=course)
    CourseCertificateRevisionId.objects.create(
        course=course, certificate_page_revision=RevisionFactory()
    )
    return SimpleNamespace(mm=mm_course, course=course)


def mapped_program():
    """A MicroMasters program mapped (ProgramId) to a MITx Online program."""
    mm_program = mm_factories.MMProgramFactory()
    program = ProgramFactory()
    ProgramId.objects.create(
        micromasters_id=mm_program.id,
        program=program,
        program_certificate_revision=RevisionFactory(),
    )
    return SimpleNamespace(mm=mm_program, program=program)


def learner():
    """A MicroMasters learner linked to the MITx Online user of the same username."""
    mm_user = mm_factories.linked_learner()
    return SimpleNamespace(mm=mm_user, user=UserFactory(username=mm_user.social.uid))


@pytest.fixture
def course_world(mm):
    """A mapped course with one edxorg run: step 002 inserts 1 run."""
    mapped = mapped_course()
    mapped.mm_run = mm_factories.MMCourseRunFactory(course=mapped.mm)
    return mapped


@pytest.fixture
def program_world(mm):
    """A mapped program and a linked learner enrolled in it: step 011 inserts 1 enrollment."""
    mapped = mapped_program()
    mapped.learner = learner()
    mm_factories.MMProgramEnrollmentFactory(program=mapped.mm, user=mapped.learner.mm)
    return mapped


@pytest.fixture
def world(course_world, program_world):
    """Enough for steps 002 and 011 to insert a row each, and every mapping table filled."""
    ProgramTierIdFactory()
    return course_world, program_world


# -- selection and usage ----------------------------------------------------------------------


def test_no_selection_is_a_usage_error_that_says_what_to_do(world):
    error, out, _ = run_failing(interactive=False)

    assert error.returncode == 2
    message = str(error)
    assert "--num" in message
    assert "--all" in message
    assert "--list" in message
    assert "\n" not in message
    assert out == ""
    assert_nothing_written()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("014", "no step 014"),
        ("14", "no step 014"),
        ("abc", "not a step number or a range"),
        ("9-3", "the range is empty"),
        ("020-030", "no step in that range"),
        ("", "names no step"),
        (",", "names no step"),
    ],
)
def test_a_num_that_names_no_step_is_a_usage_error_and_writes_nothing(world, value, words):
    error, _, _ = run_failing("--num", value, "--noinput")

    assert error.returncode == 2
    assert words in str(error)
    assert "\n" not in str(error)
    assert_nothing_written()


def test_a_bad_num_among_good_ones_runs_none_of_them(world):
    error, _, _ = run_failing("--num", "002", "--num", "014", "--noinput")

    assert error.returncode == 2
    assert_nothing_written()


def test_all_and_num_together_are_a_usage_error(world):
    error, _, _ = run_failing("--all", "--num", "002", "--noinput")

    assert error.returncode == 2
    assert "--all" in str(error)
    assert "--num" in str(error)
    assert_nothing_written()


@pytest.mark.parametrize(
    "args",
    [
        ["--num", "2", "--num", "11"],
        ["--num", "002,011"],
        ["--num", "011", "--num", "002"],
        ["--num", "2", "--num", "011", "--num", "2"],
    ],
)
def test_num_runs_exactly_the_named_steps_in_order(world, args):
    out, _ = run(*args, "--noinput")

    assert statuses() == {"002": "done", "011": "done"}
    assert list(applied(out)) == ["002_course_runs", "011_program_enrollments"]
    assert CourseRun.all_objects.count() == 1
    assert ProgramEnrollment.objects.count() == 1


def test_a_range_runs_every_step_in_it(world):
    run("--num", "010-013", "--noinput", "--force")

    assert sorted(statuses()) == ["010", "011", "012", "013"]


def test_all_runs_every_step_in_order_and_each_is_done(world):
    out, _ = run("--all", "--noinput")

    assert list(applied(out)) == [step.label for step in STEPS.values()]
    assert statuses() == dict.fromkeys(ALL_NUMS, "done")
    assert applied(out)["002_course_runs"] == 1
    assert applied(out)["011_program_enrollments"] == 1
    assert "Done: 13 step(s), 2 row(s) inserted." in out


# -- output -----------------------------------------------------------------------------------


def test_one_line_per_step_with_rows_inserted_and_seconds(world):
    out, _ = run("--num", "002,011", "--noinput")

    assert "Running 2 step(s) (each step in its own transaction):" in out
    assert applied(out) == {"002_course_runs": 1, "011_program_enrollments": 1}
    assert len(APPLIED.findall(out)) == 2
    assert "Done: 2 step(s), 2 row(s) inserted." in out
    assert "Staged " in out


STAGED_LINE = re.compile(r"^    (?P<name>mm_[a-z_]+) +(?P<rows>[\d,]+) rows +\d+\.\d\ds$", re.M)


def test_staging_prints_one_line_per_table_as_it_is_copied(world):
    mm_factories.MMProgramEnrollmentFactory.create_batch(2, program=world[1].mm)

    out, _ = run("--num", "002,011", "--noinput")

    copied = {m["name"]: int(m["rows"].replace(",", "")) for m in STAGED_LINE.finditer(out)}
    assert copied["mm_programenrollment"] == 3
    assert copied["mm_courserun"] == 1
    lines = out.splitlines()
    heading = lines.index("  Copying the MicroMasters source into local tables:")
    staged = next(i for i, line in enumerate(lines) if line.startswith("  Staged "))
    assert heading < staged < next(i for i, line in enumerate(lines) if "Applying" in line)
    assert staged - heading - 1 == len(copied)


def test_without_a_terminal_a_step_line_has_no_elapsed_counter(world, monkeypatch):
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.01)
    slow_down_inserts("courses_courserun", seconds=0.3)

    out, _ = run("--num", "002", "--noinput")

    assert "\r" not in out
    assert re.search(r"^  Applying 002_course_runs\.\.\. OK \(1 inserted", out, re.M)


def test_on_a_terminal_a_step_shows_its_elapsed_time_then_its_result(world, monkeypatch):
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.05)
    slow_down_inserts("courses_courserun", seconds=1.2)
    primary, secondary = os.openpty()
    terminal = os.fdopen(secondary, "w")
    try:
        call_command(
            "import_micromasters_data", "--num", "002", "--noinput", stdout=terminal, no_color=True
        )
        terminal.flush()
        seen = b""
        while select.select([primary], [], [], 0.2)[0]:
            chunk = os.read(primary, 65536)
            if not chunk:
                break
            seen += chunk
    finally:
        terminal.close()
        os.close(primary)
    text = seen.decode().replace("\r\n", "\n")  # the terminal turns \n into \r\n

    prefix = "  Applying 002_course_runs..."
    assert f"\r{prefix} 1s" in text
    # the counter is erased and the line ends as it does in a log
    assert re.search(rf"\r{re.escape(prefix)} +\r{re.escape(prefix)} OK \(1 inserted", text)
    assert "Done: 1 step(s), 1 row(s) inserted." in text


def slow_down_inserts(table, seconds):
    """Make every INSERT into `table` wait, within the test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.slow() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NULL; END$$"
        )
        cursor.execute(
            f"CREATE TRIGGER slow BEFORE INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.slow()"
        )


def test_skipped_rows_are_counted_on_the_step_line_and_explained(world, mm):
    mm_factories.MMCourseRunFactory()  # its course is not mapped
    mm_factories.MMCourseRunFactory(course=world[0].mm, is_discontinued=True)

    out, _ = run("--num", "002", "--noinput")

    line = next(line for line in out.splitlines() if "Applying 002" in line)
    assert "1 inserted, 2 skipped;" in line
    assert "skipped 1: course not mapped (CourseId)" in out
    assert "skipped 1: run discontinued" in out


def test_verbosity_2_prints_each_steps_sql(world):
    out, _ = run("--num", "011", "--noinput", verbosity=2)

    assert "-- 011_program_enrollments" in out
    assert "INSERT INTO courses_programenrollment (" in out
    assert shipped("011").strip() in out
    assert "mm_programenrollment" in out  # the staged tables are named at -v 2


def test_verbosity_1_prints_no_sql(world):
    out, _ = run("--num", "011", "--noinput")

    assert "INSERT INTO" not in out


def test_the_ledger_records_each_step_with_checksum_times_rows_and_who(world):
    run("--num", "002,011", "--noinput")

    rows = {row.step: row for row in ImportRun.objects.all()}
    assert set(rows) == {"002", "011"}
    (batch,) = ImportBatch.objects.all()
    for num, row in rows.items():
        assert row.batch == batch.batch
        assert row.name == STEPS[num].name
        assert row.checksum == STEPS[num].checksum
        assert row.status == ImportRun.DONE
        assert row.rows_inserted == 1
        assert row.report["inserted"] == 1
        assert row.started_on is not None
        assert row.finished_on >= row.started_on
        assert row.seconds is not None
        assert row.seconds >= 0
        assert row.error == ""
        assert "@" in row.run_by
        assert "database role" in row.run_by
        assert row.options["num"] == ["002,011"]
        assert row.options["dry_run"] is False
    assert batch.finished_on is not None
    assert batch.dry_run is False
    assert {check["name"] for check in batch.invariants}


# -- --list / --plan --------------------------------------------------------------------------


def test_list_shows_every_step_never_run(mm):
    out, _ = run("--list")

    assert "MicroMasters import steps:" in out
    for step in STEPS.values():
        line = plan_line(out, step.num)
        assert step.label in line
        assert "never run" in line
    assert "(needs 008)" in plan_line(out, "009")
    assert "(needs 005, 006)" in plan_line(out, "010")
    assert "needs" not in plan_line(out, "002")


def test_list_shows_done_failed_changed_and_interrupted(mm):
    when = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, rows_inserted=7, finished_on=when)
    ImportRunFactory(
        step="003",
        checksum=STEPS["003"].checksum,
        status=ImportRun.FAILED,
        error="duplicate key value",
        finished_on=when,
    )
    ImportRunFactory(step="004", checksum="0" * 64, rows_inserted=3, finished_on=when)
    # Pending rows of a run whose session is gone: the step that had started was interrupted,
    # the one that had not never ran.
    ImportRunFactory(
        step="005", checksum=STEPS["005"].checksum, status=ImportRun.PENDING, started_on=when
    )
    ImportRunFactory(step="007", checksum=STEPS["007"].checksum, status=ImportRun.PENDING)
    ImportRunFactory(
        step="006", checksum=STEPS["006"].checksum, status=ImportRun.ROLLED_BACK, finished_on=when
    )

    out, _ = run("--list")

    assert "done 2024-03-04 05:06:07, 7 row(s)" in plan_line(out, "002")
    assert "failed 2024-03-04 05:06:07: duplicate key value" in plan_line(out, "003")
    assert "changed since it ran" in plan_line(out, "004")
    assert "3 row(s)" in plan_line(out, "004")
    assert "interrupted: started 2024-03-04 05:06:07, the run ended before it finished" in (
        plan_line(out, "005")
    )
    assert "rolled back" in plan_line(out, "006")
    assert "never run" in plan_line(out, "007")


def test_list_shows_the_latest_real_attempt(mm):
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, status=ImportRun.FAILED)
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, rows_inserted=4)
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, status=ImportRun.DRY_RUN)
    ImportRunFactory(step="003", checksum=STEPS["003"].checksum, status=ImportRun.DRY_RUN)
    ImportRunFactory(step="004", checksum=STEPS["004"].checksum, status=ImportRun.NOT_RUN)
    ImportRunFactory(step="005", checksum=STEPS["005"].checksum, rows_inserted=2)
    ImportRunFactory(step="005", checksum=STEPS["005"].checksum, status=ImportRun.FAILED)

    out, _ = run("--list")

    assert "done" in plan_line(out, "002")
    assert "4 row(s) imported in total" in plan_line(out, "002")
    assert "never run" in plan_line(out, "003")
    assert "never run" in plan_line(out, "004")
    assert "failed" in plan_line(out, "005")


def test_list_shows_every_row_a_step_imported_not_only_its_latest_runs(mm):
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, rows_inserted=1200)
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, rows_inserted=5)
    ImportRunFactory(
        step="002", checksum=STEPS["002"].checksum, status=ImportRun.DRY_RUN, rows_inserted=50
    )
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, rows_inserted=0)

    out, _ = run("--list")

    assert "1,205 row(s) imported in total" in plan_line(out, "002")


def test_plan_is_an_alias_of_list(mm):
    ImportRunFactory(step="002", checksum=STEPS["002"].checksum, rows_inserted=7)

    assert run("--plan") == run("--list")


def test_list_at_verbosity_2_shows_each_steps_rule(mm):
    out, _ = run("--list", verbosity=2)

    assert STEPS["002"].rule in out
    assert STEPS["013"].rule in out


def test_list_runs_nothing_and_needs_no_mount(world):
    with connection.cursor() as cursor:
        cursor.execute("ALTER SCHEMA micromasters RENAME TO mm_list_test_elsewhere")

    out, _ = run("--list")

    assert "never run" in plan_line(out, "002")
    assert_nothing_written()


def test_list_after_a_run_shows_it_done_with_its_rows(world):
    run("--num", "002,011", "--noinput")

    out, _ = run("--list")

    assert "done" in plan_line(out, "002")
    assert "1 row(s)" in plan_line(out, "002")
    assert "done" in plan_line(out, "011")
    assert "1 row(s)" in plan_line(out, "011")
    assert "never run" in plan_line(out, "003")


# -- dry run ----------------------------------------------------------------------------------


def test_dry_run_reports_what_it_would_insert_and_rolls_back(world):
    out, _ = run("--num", "002,011", "--dry-run", "--noinput")

    assert CourseRun.all_objects.count() == 0
    assert ProgramEnrollment.objects.count() == 0
    assert applied(out) == {"002_course_runs": 1, "011_program_enrollments": 1}
    assert "dry run" in out
    assert "Done: 2 step(s), 2 row(s) would insert. Rolled back (dry run)." in out
    rows = ImportRun.objects.all()
    assert {(row.step, row.status, row.rows_inserted) for row in rows} == {
        ("002", ImportRun.DRY_RUN, 1),
        ("011", ImportRun.DRY_RUN, 1),
    }
    assert ImportBatch.objects.get().dry_run is True


def test_a_dry_run_leaves_steps_never_run_and_prerequisites_unmet(world):
    run("--num", "008", "--dry-run", "--noinput", "--force")

    out, _ = run("--list")
    assert "never run" in plan_line(out, "008")
    error, _, _ = run_failing("--num", "009", "--noinput")
    assert "needs step(s) 008" in str(error)


def test_a_dry_run_then_a_real_run_inserts_what_the_dry_run_said(world):
    dry, _ = run("--num", "002,011", "--dry-run", "--noinput")
    real, _ = run("--num", "002,011", "--noinput")

    assert applied(dry) == applied(real)
    assert CourseRun.all_objects.count() == 1


# -- confirmation -----------------------------------------------------------------------------


@pytest.fixture
def answer(monkeypatch):
    """Answer the confirmation prompt; records the prompts asked."""
    asked = []

    def install(reply):
        def fake_input(prompt=""):
            asked.append(prompt)
            if isinstance(reply, BaseException):
                raise reply
            return reply

        monkeypatch.setattr("builtins.input", fake_input)
        return asked

    return install


@pytest.mark.parametrize("reply", ["no", "", "n", "N", "yess", "ye s", EOFError()])
def test_anything_but_y_or_yes_cancels_and_nothing_runs(world, answer, reply):
    asked = answer(reply)

    out, _ = run("--num", "002,011")

    assert len(asked) == 1
    assert "Import cancelled; nothing was run." in out
    assert_nothing_written()


@pytest.mark.parametrize("reply", ["yes", " YES ", "Yes", "y", "Y "])
def test_y_or_yes_runs_the_steps(world, answer, reply):
    asked = answer(reply)

    run("--num", "002,011")

    assert len(asked) == 1
    assert statuses() == {"002": "done", "011": "done"}
    assert CourseRun.all_objects.count() == 1


def test_the_question_lists_the_steps_and_the_target_once(world, answer):
    answer("no")

    out, _ = run("--num", "002,011")

    assert "About to run 2 step(s) against" in out
    assert connection.settings_dict["NAME"] in out
    assert "(writes to MITx Online)" in out
    assert "  002_course_runs" in out
    assert "  011_program_enrollments" in out
    assert out.count("About to run") == 1


def test_the_question_says_when_it_is_a_dry_run(world, answer):
    answer("no")

    out, _ = run("--num", "002", "--dry-run")

    assert "DRY RUN" in out


def test_noinput_never_asks(world, answer):
    asked = answer("no")

    run("--num", "002", "--noinput")

    assert asked == []
    assert statuses() == {"002": "done"}


def test_a_preflight_failure_stops_before_asking(course_world, answer):
    asked = answer("yes")

    error, _, _ = run_failing("--num", "011")

    assert error.returncode == 2
    assert asked == []


# -- preflight --------------------------------------------------------------------------------


@pytest.mark.parametrize("nums", ["011", "002,011", "001", "all"])
def test_a_missing_source_schema_stops_the_run_before_anything_is_written(world, nums):
    with connection.cursor() as cursor:
        cursor.execute("ALTER SCHEMA micromasters RENAME TO mm_missing_test")
    selection = ["--all"] if nums == "all" else ["--num", nums]

    error, _, err = run_failing(*selection, "--noinput")

    assert error.returncode == 2
    assert str(error).startswith("Preflight failed, nothing was run:")
    assert 'the MicroMasters schema "micromasters" does not exist' in str(error)
    assert "setup_micromasters_fdw" in str(error)
    assert "does not exist" in err
    assert_nothing_written()


def test_source_schema_names_where_micromasters_is_mounted(world):
    with connection.cursor() as cursor:
        cursor.execute("ALTER SCHEMA micromasters RENAME TO mm_mounted_elsewhere")

    error, _, _ = run_failing("--num", "002", "--noinput", "--source-schema", "nowhere")
    assert 'schema "nowhere" does not exist' in str(error)

    run("--num", "002,011", "--noinput", "--source-schema", "mm_mounted_elsewhere")
    assert CourseRun.all_objects.count() == 1
    assert ProgramEnrollment.objects.count() == 1


def test_a_missing_source_table_is_named(world):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE micromasters.dashboard_programenrollment RENAME TO x_gone")

    assert "source table micromasters.dashboard_programenrollment is missing" in refused(
        "--num", "002,011", "--noinput"
    )


def test_a_missing_source_column_is_named(mm):
    mapped_course()  # no source runs yet: a table with pending FK checks cannot be altered
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE micromasters.courses_courserun DROP COLUMN is_discontinued")

    assert "source table micromasters.courses_courserun lacks column(s) is_discontinued" in refused(
        "--num", "002", "--noinput"
    )


def test_an_empty_mapping_table_is_named_with_the_steps_that_need_it(course_world):
    someone = learner()
    mm_factories.MMProgramEnrollmentFactory(user=someone.mm)

    assert (
        "mapping table micromasters_import_programid is empty (needed by step 011, 012)"
        in refused("--num", "002,011,012", "--noinput")
    )


def test_every_problem_is_listed_not_only_the_first(course_world):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE courses_courserun ADD COLUMN extra_a integer NOT NULL")

    error, _, err = run_failing("--num", "002,011", "--noinput")

    assert "(and 1 more above)" in str(error)
    assert "micromasters_import_programid is empty" in err
    assert "extra_a" in err
    assert_nothing_written()


def test_a_step_whose_prerequisite_is_not_done_is_refused(course_world):
    assert "step 009 needs step(s) 008 done first (run them too, or pass --force)" in refused(
        "--num", "009", "--noinput"
    )


@pytest.mark.parametrize("status", [ImportRun.FAILED, ImportRun.DRY_RUN, ImportRun.PENDING])
def test_a_prerequisite_that_did_not_finish_does_not_count(course_world, status):
    ImportRunFactory(step="008", status=status)

    error, _, _ = run_failing("--num", "009", "--noinput")

    assert "needs step(s) 008" in str(error)


def test_a_prerequisite_done_before_or_in_the_same_run_is_enough(course_world):
    run("--num", "002,008-009", "--noinput")
    assert statuses() == {"002": "done", "008": "done", "009": "done"}

    run("--num", "009", "--noinput")
    assert statuses() == {"009": "done"}


def test_force_runs_a_step_whose_prerequisite_is_not_done(course_world):
    run("--num", "009", "--noinput", "--force")

    assert statuses() == {"009": "done"}
    assert ImportRun.objects.get().options["force"] is True


def test_force_does_not_skip_the_other_checks(course_world):
    error, _, _ = run_failing("--num", "011", "--noinput", "--force")

    assert "micromasters_import_programid is empty" in str(error)


def test_schema_drift_a_new_not_null_column_is_named_with_its_table(world):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE courses_programenrollment ADD COLUMN extra integer NOT NULL")

    assert (
        "step 011 does not supply NOT NULL column(s) extra of courses_programenrollment"
        in refused("--num", "002,011", "--noinput")
    )


def test_schema_drift_a_new_column_with_a_default_or_nullable_is_fine(world):
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE courses_programenrollment ADD COLUMN with_default integer NOT NULL "
            "DEFAULT 0, ADD COLUMN nullable integer"
        )

    run("--num", "011", "--noinput")

    assert ProgramEnrollment.objects.count() == 1


def test_schema_drift_a_column_the_step_writes_was_dropped(world):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE courses_programenrollment DROP COLUMN change_status")

    error, _, _ = run_failing("--num", "011", "--noinput")

    assert error.returncode == 2
    assert (
        "step 011 writes column(s) change_status that courses_programenrollment does not have"
        in str(error)
    )
    assert_nothing_written()


BROKEN_SYNTAX = shipped("011").replace(
    "SELECT now(), now(), user_id", "SELEC now(), now(), user_id"
)
BROKEN_COLUMN = shipped("011").replace("l.user_id, m.program_id", "l.user_id, m.no_such_column")


@pytest.mark.parametrize(
    ("text", "words"),
    [(BROKEN_SYNTAX, "syntax error"), (BROKEN_COLUMN, "no_such_column")],
)
def test_a_broken_sql_file_is_found_before_any_step_writes(
    world, monkeypatch, tmp_path, text, words
):
    assert text != shipped("011")
    use_steps(
        monkeypatch,
        tmp_path,
        {"002_course_runs.sql": shipped("002"), "011_program_enrollments.sql": text},
    )

    error, _, _ = run_failing("--all", "--noinput")

    assert error.returncode == 2
    message = str(error)
    assert "011_program_enrollments" in message
    assert words in message
    assert "\n" not in message
    assert_nothing_written()


# -- a step that fails ------------------------------------------------------------------------


def make_011_fail():
    """A CHECK constraint that the row 011 inserts violates."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE courses_programenrollment "
            "ADD CONSTRAINT no_audit_for_test CHECK (enrollment_mode <> 'audit')"
        )


def test_a_failing_step_rolls_back_stops_the_run_and_keeps_earlier_steps(world):
    make_011_fail()

    error, out, _ = run_failing("--num", "002,011,012", "--noinput")

    assert error.returncode == 1
    message = str(error)
    assert "step 011_program_enrollments failed" in message
    assert "no_audit_for_test" in message
    assert "Earlier steps stay committed." in message
    assert "\n" not in message
    assert "Applying 011_program_enrollments... FAILED" in out
    assert "Applying 012" not in out
    assert CourseRun.all_objects.count() == 1  # 002 stays
    assert ProgramEnrollment.objects.count() == 0  # 011 rolled back
    rows = {row.step: row for row in ImportRun.objects.all()}
    assert {num: row.status for num, row in rows.items()} == {
        "002": ImportRun.DONE,
        "011": ImportRun.FAILED,
        "012": ImportRun.NOT_RUN,
    }
    assert rows["002"].rows_inserted == 1
    assert "no_audit_for_test" in rows["011"].error
    assert rows["011"].finished_on is not None
    assert rows["012"].error == "not run: 011_program_enrollments failed"


def test_after_a_failure_list_shows_the_failed_step_and_a_rerun_picks_up(world):
    make_011_fail()
    run_failing("--num", "002,011", "--noinput")

    out, _ = run("--list")
    assert "done" in plan_line(out, "002")
    assert "failed" in plan_line(out, "011")
    assert "no_audit_for_test" in plan_line(out, "011")

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE courses_programenrollment DROP CONSTRAINT no_audit_for_test")
    again, _ = run("--num", "002,011", "--noinput")
    assert "Applying 002_course_runs... unchanged" in again
    assert applied(again) == {"011_program_enrollments": 1}


def make_011_raise():
    """A trigger that raises when step 011 inserts."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_enrollment() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'enrollments are refused by a test trigger'; END $$;
            CREATE TRIGGER refuse_enrollment BEFORE INSERT ON courses_programenrollment
               FOR EACH ROW EXECUTE FUNCTION test_refuse_enrollment();
            """
        )


def test_single_transaction_rolls_back_every_step_when_one_fails(world):
    make_011_raise()

    error, out, _ = run_failing("--num", "002,011,012", "--noinput", "--single-transaction")

    assert error.returncode == 1
    assert "step 011_program_enrollments failed" in str(error)
    assert "refused by a test trigger" in str(error)
    assert "Earlier steps stay committed." not in str(error)
    assert "one transaction for all steps" in out
    assert CourseRun.all_objects.count() == 0
    assert ProgramEnrollment.objects.count() == 0
    rows = {row.step: row for row in ImportRun.objects.all()}
    assert {num: row.status for num, row in rows.items()} == {
        "002": ImportRun.ROLLED_BACK,
        "011": ImportRun.FAILED,
        "012": ImportRun.NOT_RUN,
    }
    assert "refused by a test trigger" in rows["011"].error


def test_single_transaction_commits_every_step_when_all_pass(world):
    out, _ = run("--num", "002,011", "--noinput", "--single-transaction")

    assert statuses() == {"002": "done", "011": "done"}
    assert applied(out) == {"002_course_runs": 1, "011_program_enrollments": 1}
    assert CourseRun.all_objects.count() == 1


def test_a_failing_dry_run_is_reported_and_rolled_back(world):
    make_011_raise()

    error, _, _ = run_failing("--num", "002,011", "--noinput", "--dry-run")

    assert error.returncode == 1
    assert CourseRun.all_objects.count() == 0
    assert statuses() == {"002": ImportRun.ROLLED_BACK, "011": ImportRun.FAILED}


# -- exit codes through the command line ------------------------------------------------------


@pytest.fixture
def argv(monkeypatch, capsys):
    """Run the command as `manage.py` would, returning (exit code, stdout, stderr).

    `run_from_argv` closes every connection when it ends, which would end the test's
    transaction; that is left out.
    """
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def invoke(*args):
        try:
            command.Command().run_from_argv(
                ["manage.py", "import_micromasters_data", "--no-color", *args]
            )
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def test_exit_codes_0_done_1_step_failed_2_usage_or_preflight(world, argv):
    code, out, err = argv()
    assert code == 2
    assert err.startswith("CommandError: Choose the steps to run")
    assert len(err.strip().splitlines()) == 1

    code, _, err = argv("--num", "014", "--noinput")
    assert (code, len(err.strip().splitlines())) == (2, 1)

    code, _, err = argv("--num", "009", "--noinput")
    assert code == 2
    assert "needs step(s) 008" in err

    code, out, _ = argv("--num", "002", "--noinput")
    assert code == 0
    assert "Applying 002_course_runs... OK" in out

    make_011_fail()
    code, _, err = argv("--num", "011", "--noinput")
    assert code == 1
    assert "step 011_program_enrollments failed" in err


def test_a_range_reaching_past_the_steps_is_refused_at_once_in_little_memory(world, argv):
    # Issue 11, finding 9: `--num 1-999999999` grew to gigabytes before failing.
    tracemalloc.start()
    started = time.monotonic()
    try:
        code, out, err = argv("--num", "1-999999999", "--noinput")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert code == 2
    assert err.strip() == (
        "CommandError: --num 1-999999999: the range reaches beyond the steps there are "
        "(steps 001 to 013); give a range within them, e.g. 001-013"
    )
    assert time.monotonic() - started < 5
    assert peak < 5_000_000
    assert "Applying" not in out
    assert_nothing_written()


# -- the lock -------------------------------------------------------------------------------


def test_a_second_run_exits_at_once_while_another_holds_the_lock(world):
    with held_elsewhere() as other:
        pid = other.info.backend_pid
        started = time.monotonic()

        error, out, _ = run_failing("--num", "002,011", "--noinput")

        assert time.monotonic() - started < 5
        assert error.returncode == 2
        assert "An import run is already in progress" in str(error)
        assert f"pid {pid}" in str(error)
        assert "\n" not in str(error)
        assert "Applying" not in out
        assert_nothing_written()
        other.execute("SELECT pg_advisory_unlock(%s)", [lock.LOCK_KEY])

    run("--num", "002,011", "--noinput")
    assert statuses() == {"002": "done", "011": "done"}


def test_the_lock_is_also_taken_for_a_dry_run(world):
    with held_elsewhere():
        error, _, _ = run_failing("--num", "002", "--noinput", "--dry-run")

    assert error.returncode == 2
    assert_nothing_written()


def test_the_lock_is_released_after_a_run_a_failure_and_a_preflight_error(world, answer):
    run("--num", "002", "--noinput")
    assert lock_is_free()

    run_failing("--num", "009", "--noinput")
    assert lock_is_free()

    answer("no")
    run("--num", "002")
    assert lock_is_free()

    make_011_fail()
    run_failing("--num", "011", "--noinput")
    assert lock_is_free()


# -- what really gets committed (a second session looks) ------------------------------------


FAILING_AFTER_INSERTING = shipped("011").replace(
    "AS row_hash, user_id, program_id", "AS row_hash, user_id, program_id / (id - id) AS program_id"
)


@pytest.fixture
def committed_world(mm_transactional, monkeypatch, tmp_path):
    """Steps 002 and a 003 that inserts program enrollments, then fails at run time."""
    assert shipped("011") != FAILING_AFTER_INSERTING
    course = mapped_course()
    mm_factories.MMCourseRunFactory(course=course.mm)
    program = mapped_program()
    someone = learner()
    mm_factories.MMProgramEnrollmentFactory(program=program.mm, user=someone.mm)
    use_steps(
        monkeypatch,
        tmp_path,
        {"002_course_runs.sql": shipped("002"), "003_boom.sql": FAILING_AFTER_INSERTING},
    )


def staged_tables_left() -> int:
    """The staged `mm_*` copies still in this session (the runner drops them when it ends)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class "
            "WHERE relnamespace = pg_my_temp_schema() AND relname LIKE 'mm\\_%%'"
        )
        return cursor.fetchone()[0]


def seen_by_another_session(query):
    with other_connection() as other:
        return other.execute(query).fetchall()


@pytest.mark.django_db(transaction=True)
def test_per_step_transactions_really_commit_the_steps_before_a_failure(committed_world):
    error, _, _ = run_failing("--all", "--noinput")

    assert error.returncode == 1
    assert "step 003_boom failed: division by zero" in str(error)
    assert seen_by_another_session("SELECT count(*) FROM courses_courserun") == [(1,)]
    assert seen_by_another_session("SELECT count(*) FROM courses_programenrollment") == [(0,)]
    assert sorted(
        seen_by_another_session(
            "SELECT step, status, rows_inserted FROM micromasters_import_importrun"
        )
    ) == [("002", "done", 1), ("003", "failed", None)]
    assert lock_is_free()
    assert staged_tables_left() == 0


@pytest.mark.django_db(transaction=True)
def test_single_transaction_really_commits_nothing_but_the_ledger(committed_world):
    error, _, _ = run_failing("--all", "--noinput", "--single-transaction")

    assert error.returncode == 1
    assert seen_by_another_session("SELECT count(*) FROM courses_courserun") == [(0,)]
    assert seen_by_another_session("SELECT count(*) FROM courses_programenrollment") == [(0,)]
    assert sorted(
        seen_by_another_session("SELECT step, status FROM micromasters_import_importrun")
    ) == [("002", "rolled_back"), ("003", "failed")]
    assert staged_tables_left() == 0


# -- the ledger in the admin ----------------------------------------------------------------


@pytest.fixture
def ledger_row(db):
    return ImportRunFactory(step="002", error="", rows_inserted=5, report={"inserted": 5})


def test_the_ledger_changelist_loads(staff_client, ledger_row):
    response = staff_client.get(reverse("admin:micromasters_import_importrun_changelist"))

    assert response.status_code == 200
    assert "<strong>002</strong> course runs" in response.content.decode()
    assert reverse("admin:micromasters_import_importrun_add") not in response.content.decode()


def test_the_ledger_cannot_be_added_to(staff_client, ledger_row):
    url = reverse("admin:micromasters_import_importrun_add")

    assert staff_client.get(url).status_code == 403
    assert staff_client.post(url, {"step": "003", "name": "x"}).status_code == 403
    assert ImportRun.objects.count() == 1


def test_a_ledger_row_can_be_read_but_not_changed(staff_client, ledger_row):
    url = reverse("admin:micromasters_import_importrun_change", args=[ledger_row.id])

    page = staff_client.get(url)
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content
    assert 'name="_continue"' not in content

    posted = staff_client.post(url, {"step": "009", "status": "failed", "rows_inserted": "0"})
    assert posted.status_code == 403
    ledger_row.refresh_from_db()
    assert (ledger_row.step, ledger_row.status, ledger_row.rows_inserted) == ("002", "done", 5)


def test_a_ledger_row_cannot_be_deleted(staff_client, ledger_row):
    url = reverse("admin:micromasters_import_importrun_delete", args=[ledger_row.id])

    assert staff_client.post(url, {"post": "yes"}).status_code == 403
    assert ImportRun.objects.filter(id=ledger_row.id).exists()


def test_the_sql_directory_is_where_the_command_finds_its_steps():
    assert [step.path for step in command.discover()] == sorted(SQL_DIR.glob("[0-9]*.sql"))


def test_a_real_run_reads_back_in_the_admin_read_only(staff_client, world):
    run("--num", "002,011", "--noinput")
    row = ImportRun.objects.get(step="002")
    batch = ImportBatch.objects.get()

    for name, obj in [("importrun", row), ("importbatch", batch)]:
        url = reverse(f"admin:micromasters_import_{name}_change", args=[obj.id])
        page = staff_client.get(url)
        assert page.status_code == 200, name
        assert 'name="_save"' not in page.content.decode(), name
        assert "<strong>002</strong> course runs" in page.content.decode(), name
        assert staff_client.post(url, {}).status_code == 403, name
        assert staff_client.get(reverse(f"admin:micromasters_import_{name}_add")).status_code == 403
    row.refresh_from_db()
    assert (row.status, row.rows_inserted) == (ImportRun.DONE, 1)
