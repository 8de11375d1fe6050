"""Unit tests of step discovery, what a step file declares, and the `--num` selection parser."""

import hashlib
import re

import pytest

from micromasters_import.engine import steps as steps_module
from micromasters_import.engine.steps import SQL_DIR, SelectionError, Step, discover, select

ALL_NUMS = [f"{n:03d}" for n in range(1, 14)]

STEP_SQL = """\
-- 007 a step
-- Rule: does a thing,
-- over two lines.
-- Writes: courses_programenrollment
-- Needs: 002, 005
WITH candidate AS (
    SELECT pe.id AS ref FROM mm_programenrollment pe
      LEFT JOIN mm_learner l ON l.mm_user_id = pe.user_id
      LEFT JOIN micromasters_import_programid m ON m.micromasters_id = pe.program_id
),
inserted AS (
    INSERT INTO courses_programenrollment (
        created_on, updated_on,
        user_id, program_id
    )
    SELECT now(), now(), 1, 1 FROM candidate
    RETURNING 1
)
SELECT 'inserted', count(*), NULL FROM inserted;
"""


@pytest.fixture
def steps():
    return discover()


def nums(chosen):
    return [step.num for step in chosen]


# -- discovery ------------------------------------------------------------------------------


def test_discovers_the_thirteen_shipped_steps_in_order(steps):
    assert nums(steps) == ALL_NUMS
    assert steps[0].label == "001_check_mount"
    assert steps[1].label == "002_course_runs"
    assert steps[-1].label == "013_enrollments_behind_certificates"
    assert all(step.path.parent == SQL_DIR for step in steps)


def test_discovery_ignores_files_that_are_not_numbered_steps(tmp_path):
    for name in [
        "002_second.sql",
        "001_first.sql",
        "010_tenth.sql",
        "README.md",
        "03_too_short.sql",
        "0004_too_long.sql",
        "005_Upper.sql",
        "006_no_extension",
        "007_wrong.txt",
        "step_002_course_runs_test.py",
        "__init__.py",
    ]:
        (tmp_path / name).write_text("-- x\n")

    found = discover(tmp_path)

    assert [step.label for step in found] == ["001_first", "002_second", "010_tenth"]


def test_an_empty_directory_has_no_steps(tmp_path):
    assert discover(tmp_path) == []


# -- what a step file declares -----------------------------------------------------------


def test_a_step_reads_its_declarations_from_its_own_file(tmp_path):
    path = tmp_path / "007_a_step.sql"
    path.write_text(STEP_SQL)
    step = discover(tmp_path)[0]

    assert (step.num, step.name, step.label) == ("007", "a_step", "007_a_step")
    assert step.rule == "does a thing, over two lines."
    assert step.needs == ("002", "005")
    assert step.writes == "courses_programenrollment"
    assert step.insert_columns == ["created_on", "updated_on", "user_id", "program_id"]
    assert step.staged_tables == {"mm_programenrollment", "mm_learner"}
    assert step.mapping_tables == {"micromasters_import_programid"}
    assert step.reports_outcomes is True
    assert step.checksum == hashlib.sha256(STEP_SQL.encode()).hexdigest()


def test_the_checksum_changes_when_the_file_changes(tmp_path):
    path = tmp_path / "002_x.sql"
    path.write_text(STEP_SQL)
    before = discover(tmp_path)[0].checksum
    path.write_text(STEP_SQL + "-- an edit\n")
    after = discover(tmp_path)[0].checksum

    assert before != after
    assert len(after) == 64


def test_the_shipped_steps_declare_their_order_and_tables(steps):
    by_num = {step.num: step for step in steps}

    assert by_num["001"].writes is None
    assert by_num["001"].reports_outcomes is False
    assert by_num["001"].needs == ()
    assert by_num["002"].needs == ()
    assert by_num["003"].needs == ("002",)
    assert by_num["009"].needs == ("008",)
    assert by_num["010"].needs == ("005", "006")
    assert by_num["013"].needs == ("009",)
    assert by_num["002"].writes == "courses_courserun"
    assert by_num["009"].writes == "courses_courseruncertificate"
    assert by_num["011"].writes == "courses_programenrollment"
    assert by_num["002"].mapping_tables == {"micromasters_import_courseid"}
    assert by_num["004"].mapping_tables == {"micromasters_import_programtierid"}
    assert "mm_courserun" in by_num["002"].staged_tables
    assert "mm_learner" in by_num["011"].staged_tables
    for step in steps[1:]:
        assert step.writes, step.label
        assert step.rule, step.label
        assert "created_on" in step.insert_columns, step.label
        # A step may only need steps that come before it.
        assert all(need < step.num for need in step.needs), step.label


# -- the statement: the file, then the shared tail -------------------------------------------

SOURCED_SQL = STEP_SQL.replace(
    "-- Needs: 002, 005\n", "-- Source: dashboard_programenrollment\n-- Needs: 002, 005\n"
).replace(
    "    RETURNING 1\n)\nSELECT 'inserted', count(*), NULL FROM inserted;\n",
    "    RETURNING id AS target_id, md5(courses_programenrollment::text) AS row_hash, user_id\n)\n",
)
RETURNING = re.compile(
    r"^    RETURNING id AS target_id, md5\((\w+)::text\) AS row_hash, (.+)\n\)\n\Z", re.M
)


def test_a_step_that_names_a_source_runs_as_its_file_then_the_shared_tail(tmp_path):
    assert SOURCED_SQL != STEP_SQL
    (tmp_path / "007_a_step.sql").write_text(SOURCED_SQL)
    step = discover(tmp_path)[0]

    assert step.text == SOURCED_SQL
    assert step.source == "dashboard_programenrollment"
    assert step.rule == "does a thing, over two lines."
    assert step.sql.startswith(SOURCED_SQL.rstrip() + ",\n-- The shared tail")
    assert "\nprovenance AS (\n    INSERT INTO micromasters_import_importedrow (" in step.sql
    assert "'courses_programenrollment', target_id, 'dashboard_programenrollment'" in step.sql
    assert step.sql.endswith("SELECT 'inserted', count(*), NULL FROM inserted;\n")
    assert step.checksum == hashlib.sha256(step.sql.encode()).hexdigest()
    assert step.writes == "courses_programenrollment"


def test_a_step_without_a_source_is_its_own_statement(tmp_path):
    (tmp_path / "007_a_step.sql").write_text(STEP_SQL)
    step = discover(tmp_path)[0]

    assert step.source is None
    assert step.sql == step.text == STEP_SQL


def test_a_change_to_the_shared_tail_changes_every_sourced_steps_checksum(monkeypatch):
    before = {step.num: step.checksum for step in discover()}
    monkeypatch.setattr(steps_module, "TAIL", steps_module.TAIL + "-- an edit\n")
    after = {step.num: step.checksum for step in discover()}

    assert before["001"] == after["001"]
    assert all(before[num] != after[num] for num in ALL_NUMS[1:])


def test_the_shipped_steps_name_the_table_they_classify_and_end_with_the_tail(steps):
    assert {step.num: step.source for step in steps} == {
        "001": None,
        "002": "courses_courserun",
        "003": "dashboard_cachedenrollment",
        "004": "financialaid_financialaid",
        "005": "ecommerce_order",
        "006": "ecommerce_line",
        "007": "ecommerce_receipt",
        "008": "grades_finalgrade",
        "009": "grades_micromasterscoursecertificate",
        "010": "ecommerce_line",
        "011": "dashboard_programenrollment",
        "012": "grades_micromastersprogramcertificate",
        "013": "grades_micromasterscoursecertificate",
    }
    for step in steps[1:]:
        # The file ends with its INSERT's RETURNING: the row, its hash, the candidate's key.
        returning = RETURNING.search(step.text)
        assert returning, step.label
        assert returning.group(1) == step.writes, step.label
        assert "micromasters_import_importedrow" not in step.text, step.label
        tail = steps_module.TAIL.format(target=step.writes, source=step.source)
        assert step.sql == step.text.rstrip() + ",\n" + tail, step.label


# -- selection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["9"], ["009"]),
        (["009"], ["009"]),
        (["0009"], ["009"]),
        (["2,3"], ["002", "003"]),
        (["2, 3"], ["002", "003"]),
        (["002-009"], ["002", "003", "004", "005", "006", "007", "008", "009"]),
        (["2-4"], ["002", "003", "004"]),
        (["5-5"], ["005"]),
        (["011", "2"], ["002", "011"]),
        (["9", "009", "8-9"], ["008", "009"]),
        (["2-3,12,13"], ["002", "003", "012", "013"]),
        (["001-013"], ALL_NUMS),
        (["010-013"], ["010", "011", "012", "013"]),
        (["1-1"], ["001"]),
        (["3,"], ["003"]),
    ],
)
def test_selects_steps_in_file_order(steps, values, expected):
    assert nums(select(steps, values)) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("014", "no step 014"),
        ("14", "no step 014"),
        ("0", "no step 000"),
        ("1000", "no step 1000"),
        ("abc", "not a step number or a range"),
        ("9a", "not a step number or a range"),
        ("9-3", "the range is empty"),
        ("1-2-3", "not a step number or a range"),
        ("-3", "not a step number or a range"),
        ("3-", "not a step number or a range"),
        ("2..3", "not a step number or a range"),
        ("-1", "not a step number or a range"),
        ("020-030", "no step in that range"),
        ("010-020", "reaches beyond the steps there are"),
        ("0-1", "reaches beyond the steps there are"),
    ],
)
def test_rejects_what_names_no_step(steps, value, words):
    with pytest.raises(SelectionError, match=words):
        select(steps, [value])


def test_one_bad_value_rejects_the_whole_selection(steps):
    with pytest.raises(SelectionError, match="014"):
        select(steps, ["002", "3,014"])


def test_the_error_for_an_unknown_step_lists_the_steps_there_are(steps):
    with pytest.raises(SelectionError) as error:
        select(steps, ["014"])

    message = str(error.value)
    assert "001" in message
    assert "013" in message
    assert "\n" not in message


@pytest.mark.parametrize("values", [[""], [","], [" , "], ["", ""]])
def test_a_selection_that_names_nothing_is_an_error(steps, values):
    with pytest.raises(SelectionError, match="names no step"):
        select(steps, values)


def test_selection_works_on_any_set_of_steps(tmp_path):
    for name in ["001_a.sql", "003_c.sql", "007_g.sql"]:
        (tmp_path / name).write_text("-- x\n")
    found = discover(tmp_path)

    assert nums(select(found, ["1-7"])) == ["001", "003", "007"]
    assert nums(select(found, ["2-6"])) == ["003"]
    with pytest.raises(SelectionError, match="reaches beyond"):
        select(found, ["1-8"])
    with pytest.raises(SelectionError, match="no step 002"):
        select(found, ["2"])
    with pytest.raises(SelectionError, match="no step in that range"):
        select(found, ["4-6"])


def test_a_step_is_a_value(tmp_path):
    path = tmp_path / "002_x.sql"
    path.write_text(STEP_SQL)

    assert Step("002", "x", path) == Step("002", "x", path)
    assert discover(tmp_path) == discover(tmp_path)
