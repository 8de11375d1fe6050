"""A re-run whose changes are confined to some learners imports only them, exactly as a full run.

Each scenario changes the source (or MITx Online's accounts) for a few learners after a first
full run over the report scenario's world. The re-run must be narrowed to those learners, and
land exactly the rows a full `--recheck` run over an identical copy lands (compared by value,
without ids and timestamps); a run after it inserts nothing. The scenarios include the rules
that compare rows of different learners: a shared uid, certificate hash, order reference
number and receipt transaction id.
"""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from courses.factories import CourseFactory
from courses.models import CourseRunEnrollment, CourseRunGrade, ProgramEnrollment
from micromasters_import.engine import report
from micromasters_import.models import CourseId, ImportBatch, ImportRun
from micromasters_import.operator import report_page
from micromasters_import.source import factories as mm
from micromasters_import.testing import commands, report_scenario
from users.factories import UserFactory


def import_all(*args) -> tuple[str, dict]:
    """`--all --noinput` like an operator; returns the batch and {step: report}."""
    call_command(
        "import_micromasters_data",
        "--all",
        "--noinput",
        *args,
        stdout=StringIO(),
        stderr=StringIO(),
    )
    batch = ImportBatch.objects.order_by("-id").first().batch
    return str(batch), {row.step: row.report for row in ImportRun.objects.filter(batch=batch)}


def landed(batch: str) -> list[tuple[str, str]]:
    """Every row the run inserted, by value: its table and its columns without ids and
    timestamps (an order id is replaced by the order's reference number)."""
    rows = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT r.target_table FROM micromasters_import_importedrow r "
            "JOIN micromasters_import_importrun l ON l.id = r.ledger_id WHERE l.batch = %s",
            [batch],
        )
        for (table,) in cursor.fetchall():
            cursor.execute(
                f"""
                SELECT (to_jsonb(t) - ARRAY['id', 'created_on', 'updated_on', 'order_id'])
                       || jsonb_build_object('order', (
                              SELECT o.reference_number FROM ecommerce_order o
                               WHERE o.id = (to_jsonb(t) ->> 'order_id')::int))
                  FROM {table} t
                 WHERE t.id IN (SELECT r.target_id FROM micromasters_import_importedrow r
                                  JOIN micromasters_import_importrun l ON l.id = r.ledger_id
                                 WHERE l.batch = %s AND r.target_table = %s)
                """,
                [batch, table],
            )
            rows += [(table, str(value)) for (value,) in cursor.fetchall()]
    return sorted(rows)


def decided(reports: dict) -> dict[tuple[str, int], str]:
    """{(step, source row id): outcome} of every row a run reported a sample of."""
    return {
        (num, ref): code
        for num, report in reports.items()
        if isinstance(report, dict)
        for code, refs in report.get("samples", {}).items()
        for ref in refs
    }


def new_learner(w, uid=None, cert_hash=None, reference_number=None, transaction_id=None):
    """A new linked learner with a full record in course A and program P, and an order."""
    person = mm.linked_learner(uid=uid)
    if uid is None:
        UserFactory(username=person.social.uid)
    with connection.cursor() as cursor:  # an exam of course A that already exists
        cursor.execute(
            "SELECT min(id) FROM micromasters.exams_examrun WHERE course_id = %s", [w.a.mm.id]
        )
        exam_run = mm.Row(id=cursor.fetchone()[0])
    mm.MMProctoredExamGradeFactory(user=person, course=w.a.mm, score=80.0, exam_run=exam_run)
    mm.MMFinalGradeFactory(user=person, course_run=w.run_a1, grade=0.85)
    mm.MMCachedEnrollmentFactory(user=person, course_run=w.run_a1, mode="verified")
    certificate = {"hash": cert_hash} if cert_hash else {}
    mm.MMCourseCertificateFactory(user=person, course=w.a.mm, **certificate)
    mm.MMProgramEnrollmentFactory(user=person, program=w.prog_p)
    mm.MMFinancialAidFactory(user=person, tier_program=w.tp_current, status="approved")
    order = {"reference_number": reference_number} if reference_number else {}
    report_scenario._order(
        type("Buyer", (), {"mm": person}),
        [w.run_a2],
        receipts=[transaction_id or f"T-NEW-{person.id}"],
        **order,
    )
    return person


def _passed_exam(w):
    """A learner who failed the exam has now passed it (a corrected exam grade)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE micromasters.grades_proctoredexamgrade SET passed = true, score = 75 "
            "WHERE user_id = %s",
            [w.failed_exam[0].mm.id],
        )


def _shared_order_reference(w):
    # An unlinked learner's order (never imported) has the same reference number: once the
    # new learner's order is imported, the unlinked learner's line reaches it (006, 010).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reference_number FROM micromasters.ecommerce_order WHERE user_id = %s",
            [w.unlinked[0].mm.id],
        )
        reference = cursor.fetchone()[0]
    new_learner(w, reference_number=reference)


SCENARIOS = {
    "a new linked learner": lambda w: new_learner(w),
    "a corrected exam grade": _passed_exam,
    "a new grade of an imported learner": lambda w: mm.MMFinalGradeFactory(
        user=w.good[0].mm, course_run=w.run_a2, grade=0.6
    ),
    "a new learner claiming an imported learner's uid": lambda w: new_learner(
        w, uid=w.good[0].social.uid
    ),
    "a new learner with an imported learner's certificate hash": lambda w: new_learner(
        w, cert_hash=_hash_of(w.good[1].mm.id)
    ),
    "a new learner with an unimported order's reference number": _shared_order_reference,
    "a new learner with another learner's transaction id": lambda w: new_learner(
        w, transaction_id="T-L3"
    ),
}


def _hash_of(mm_user_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hash FROM micromasters.grades_micromasterscoursecertificate "
            "WHERE user_id = %s ORDER BY id LIMIT 1",
            [mm_user_id],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("change", list(SCENARIOS))
def test_a_narrowed_rerun_lands_what_a_full_run_lands(mm, drop_unique, change):
    # MicroMasters' own constraints, which the import does not trust: the scenarios break them.
    drop_unique("micromasters", "social_auth_usersocialauth", "provider", "uid")
    drop_unique("micromasters", "grades_micromasterscoursecertificate", "hash")
    drop_unique("micromasters", "ecommerce_order", "reference_number")
    w = report_scenario.build()
    import_all()
    SCENARIOS[change](w)
    with connection.cursor() as cursor:  # every row's id in the report, not ten per outcome
        cursor.execute("SELECT set_config('micromasters_import.sample_limit', '100000', false)")

    before = transaction.savepoint()
    batch, reports = import_all()
    narrowed = landed(batch)
    narrowed_outcomes = decided(reports)
    assert all(
        "narrowed_to" in report or "unchanged_since" in report
        for num, report in reports.items()
        if num != "001"
    ), reports
    assert any("narrowed_to" in report for report in reports.values())
    learners = {r["narrowed_to"]["learners"] for r in reports.values() if "narrowed_to" in r}
    assert len(learners) == 1
    assert 0 < learners.pop() < 10  # of the world's 40-odd learners
    again, second = import_all()
    assert landed(again) == []
    assert all(second[num].get("unchanged_since") for num in second if num != "001")
    transaction.savepoint_rollback(before)

    batch, reports = import_all("--recheck")
    assert not any("narrowed_to" in report for report in reports.values())
    assert narrowed == landed(batch)
    # Every row the narrowed run examined was decided as the full run decided it.
    full_outcomes = decided(reports)
    assert narrowed_outcomes
    assert {key: full_outcomes.get(key) for key in narrowed_outcomes} == narrowed_outcomes


def test_a_new_learner_imports_their_rows_and_nothing_of_anyone_else(mm):
    w = report_scenario.build()
    import_all()
    # Runs with nothing to do in between (one after logins) keep what later runs compare with.
    _, unchanged = import_all()
    assert all(unchanged[num].get("unchanged_since") for num in unchanged if num != "001")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE users_user SET last_login = now() WHERE id % 2 = 0")
    _, unchanged = import_all()
    assert all(unchanged[num].get("unchanged_since") for num in unchanged if num != "001")
    enrollments, grades = CourseRunEnrollment.all_objects.count(), CourseRunGrade.objects.count()
    person = new_learner(w)
    user = UserFactory._meta.model.objects.get(username=person.social.uid)

    batch, reports = import_all()

    assert reports["003"]["inserted"] == 1
    assert reports["003"]["narrowed_to"]["learners"] == 1
    assert reports["003"]["narrowed_to"]["since"]
    enrollment = CourseRunEnrollment.all_objects.get(user=user)
    assert (enrollment.run.courseware_id, enrollment.enrollment_mode, enrollment.active) == (
        w.run_a1.edx_course_key,
        "verified",
        True,
    )
    grade = CourseRunGrade.objects.get(user=user)
    # combined = grade * 100 * 0.4 + exam score * 0.6 = 34 + 48
    assert (grade.course_run.courseware_id, Decimal(str(grade.grade))) == (
        w.run_a1.edx_course_key,
        Decimal("0.82"),
    )
    assert ProgramEnrollment.all_objects.filter(user=user).count() == 1
    assert CourseRunEnrollment.all_objects.count() == enrollments + 1
    assert CourseRunGrade.objects.count() == grades + 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.target_table, r.target_id FROM micromasters_import_importedrow r "
            "JOIN micromasters_import_importrun l ON l.id = r.ledger_id WHERE l.batch = %s",
            [batch],
        )
        imported = cursor.fetchall()
    assert imported
    for table, target_id in imported:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT to_jsonb(t) FROM {table} t WHERE t.id = %s",
                [target_id],
            )
            row = json.loads(cursor.fetchone()[0])
        assert user.id in (row.get("user_id"), row.get("purchaser_id")) or table in (
            "ecommerce_line",
            "ecommerce_transaction",
        ), (table, row)


def test_the_output_the_report_and_the_run_page_say_the_run_was_narrowed(mm):
    w = report_scenario.build()
    import_all()
    new_learner(w)

    out = StringIO()
    call_command("import_micromasters_data", "--all", "--noinput", stdout=out, stderr=StringIO())

    said = "narrowed to 1 learner(s) whose rows changed since run"
    assert said in out.getvalue()
    assert said in commands.report()
    batch = ImportBatch.objects.order_by("-id").first()
    rows = [report_page.step_row(entry) for entry in report.build(batch)["steps"]]
    assert {row.step for row in rows if row.narrowed.startswith(said)} == {
        f"{n:03d}" for n in range(3, 14)
    }


def _map_course_c(w):
    """Course C becomes mapped: its runs, and its learners' rows, can come over."""
    CourseId.objects.create(
        micromasters_id=w.c.mm.id, course=CourseFactory(readable_id="course-v1:MITxT+C")
    )


def _rename_run(w):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE micromasters.courses_courserun SET title = 'Renamed' WHERE id = %s",
            [w.run_b1.id],
        )


@pytest.mark.parametrize(
    ("change", "args"),
    [(_map_course_c, ()), (_rename_run, ()), (lambda w: None, ("--recheck",))],
    ids=["a new mapping", "a changed course run", "--recheck"],
)
def test_a_change_beyond_some_learners_rows_runs_every_learner(mm, change, args):
    w = report_scenario.build()
    import_all()
    person = new_learner(w)
    change(w)

    _, reports = import_all(*args)

    assert not any("narrowed_to" in report for report in reports.values())
    assert reports["003"]["candidates"] > 10  # every learner's enrollments, not one learner's
    user = UserFactory._meta.model.objects.get(username=person.social.uid)
    assert CourseRunEnrollment.all_objects.filter(user=user).count() == 1
    if change is _map_course_c:  # learners of other buckets now have rows to import
        assert CourseRunEnrollment.all_objects.filter(
            user__username__in=[p.social.uid for p in w.unmapped_course]
        ).count() == len(w.unmapped_course)
    again, _ = import_all()
    assert landed(again) == []
