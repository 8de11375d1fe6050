"""`suggest_micromasters_mappings`: prints proposals, creates only what was confirmed."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from courses.factories import CourseFactory, ProgramFactory
from micromasters_import.models import CourseId, ProgramId
from micromasters_import.source import factories as mm_factories


@pytest.fixture
def world(mm):
    """One course matched with high confidence, one with medium, one program (high)."""
    program = mm_factories.MMProgramFactory(title="Statistics and Data Science")
    exact = mm_factories.MMCourseFactory(
        program=program, title="Probability", course_number="6.431x", edx_key="MITx+6.431x"
    )
    # Same number, unrelated title: only medium.
    loose = mm_factories.MMCourseFactory(
        program=program, title="Machine Learning", course_number="6.86x", edx_key="MITx+6.86x"
    )
    return {
        "exact": (exact, CourseFactory(readable_id="course-v1:MITx+6.431x", title="Probability")),
        "loose": (loose, CourseFactory(readable_id="course-v1:MITxT+6.86x", title="Something")),
        "program": (
            program,
            ProgramFactory(readable_id="program-v1:MITx+SDS", title="Statistics and Data Science"),
        ),
    }


def key(kind, pair):
    return f"{kind}:{pair[0].id}:{pair[1].id}"


def run(*args, answers=None, monkeypatch=None):
    out, err = StringIO(), StringIO()
    if answers is not None:
        replies = iter(answers)
        monkeypatch.setattr("builtins.input", lambda prompt="": next(replies))
    call_command("suggest_micromasters_mappings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_without_apply_prints_proposals_and_creates_nothing(world):
    out, _ = run()

    assert "3 proposed mapping(s):" in out
    exact = key("course", world["exact"])
    assert f"  {exact}" in out
    assert "course key MITx+6.431x is the key of course-v1:MITx+6.431x" in out
    assert key("course", world["loose"]) in out
    assert "medium" in out
    assert key("program", world["program"]) in out
    assert "Nothing was created." in out
    assert "--apply --noinput (creates those 2 without asking)" in out
    assert not CourseId.objects.exists()
    assert not ProgramId.objects.exists()


def test_apply_noinput_creates_those_at_the_threshold_it_prints(world):
    out, _ = run("--apply", "--noinput")

    assert "Creating the 2 proposal(s) at or above confidence high (--noinput):" in out
    assert "Created 2 of 2 mapping(s)." in out
    assert list(CourseId.objects.values_list("micromasters_id", "course")) == [
        (world["exact"][0].id, world["exact"][1].id)
    ]
    assert ProgramId.objects.get().program == world["program"][1]


def test_apply_with_a_lower_threshold(world):
    run("--apply", "--noinput", "--min-confidence", "medium", "--kind", "course")
    assert CourseId.objects.count() == 2
    assert not ProgramId.objects.exists()


def test_apply_only_creates_exactly_the_named_proposals(world):
    loose = key("course", world["loose"])

    out, _ = run("--apply", "--noinput", "--only", loose)

    assert "Creating the 1 proposal(s) named by --only" in out
    assert list(CourseId.objects.values_list("micromasters_id", flat=True)) == [
        world["loose"][0].id
    ]


def test_apply_asks_for_each_proposal(world, monkeypatch):
    out, _ = run("--apply", answers=["n", "y"], monkeypatch=monkeypatch)

    assert CourseId.objects.count() == 0
    assert ProgramId.objects.count() == 1
    assert "Created 1 of 1 mapping(s)." in out


def test_apply_answered_quit_creates_nothing(world, monkeypatch):
    out, _ = run("--apply", answers=["q"], monkeypatch=monkeypatch)
    assert "Nothing was created." in out
    assert not CourseId.objects.exists()
    assert not ProgramId.objects.exists()


def test_unknown_only_id_is_a_usage_error(world):
    with pytest.raises(CommandError, match="course:1:2 is not among the current proposals") as e:
        run("--apply", "--only", "course:1:2")
    assert e.value.returncode == 2
    with pytest.raises(CommandError, match="not a proposal id"):
        run("--apply", "--only", "nonsense")
    assert not CourseId.objects.exists()


def test_not_mounted_is_a_usage_error(world):
    with connection.cursor() as cursor:
        cursor.execute('ALTER SCHEMA "micromasters" RENAME TO "micromasters_away"')
    with pytest.raises(CommandError, match="is not mounted") as error:
        run("--apply", "--noinput")
    assert error.value.returncode == 2
    assert not CourseId.objects.exists()
