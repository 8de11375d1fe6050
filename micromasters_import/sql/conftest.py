"""Fixtures for the step tests: run steps through the real command, and build mapped worlds.

Every test goes through `import_micromasters_data` itself (staging, preflight, ledger), so a
test of a step's rule also proves the command runs it the way an operator would. The worlds
the step tests share (a course with an imported run, a learner who passed its exam, a
sellable run, the learners whose account cannot be found) are built here, once.
"""

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from psycopg import sql

from courses.factories import CourseFactory, CourseRunFactory, ProgramFactory
from ecommerce.factories import VersionedProductFactory
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportRun,
    ProgramId,
)
from micromasters_import.source import factories as mm_factories
from users.factories import UserFactory
from wagtailcore.factories import RevisionFactory


@pytest.fixture
def run_steps(mm):
    """Run steps like an operator (`--noinput`, `--force` unless told) and return their reports.

    Returns {step number: report dict} for the steps of this invocation, read back from the
    ledger, so a test asserts what the operator would see.
    """

    def run(*nums, force=True, **options):
        out = StringIO()
        call_command(
            "import_micromasters_data",
            num=list(nums),
            interactive=False,
            force=force,
            stdout=out,
            stderr=StringIO(),
            **options,
        )
        batch = ImportRun.objects.order_by("-id").values_list("batch", flat=True).first()
        reports = {run.step: run.report for run in ImportRun.objects.filter(batch=batch)}
        reports["output"] = out.getvalue()
        return reports

    return run


@pytest.fixture
def run_step(run_steps):
    """Run one step like an operator (see `run_steps`) and return its report."""

    def run(num, **options):
        return run_steps(num, **options)[num]

    return run


@pytest.fixture
def run_twice(run_step):
    """Run one step, then run it again as an operator re-running it; both reports."""

    def run(num, **options):
        return run_step(num, **options), run_step(num, **options)

    return run


@pytest.fixture
def learner(mm):
    """A MicroMasters learner linked (provider mitxonline) to a MITx Online user of that name."""

    def make(username=None, **mm_fields):
        mm_user = mm_factories.linked_learner(username, **mm_fields)
        user = UserFactory(username=mm_user.social.uid)
        return SimpleNamespace(mm=mm_user, user=user)

    return make


@pytest.fixture
def mapped_course(mm):
    """A MicroMasters course mapped to a MITx Online course (CourseId and revision mapping)."""

    def make(revision=True, **mm_fields):
        mm_course = mm_factories.MMCourseFactory(**mm_fields)
        course = CourseFactory(readable_id=f"course-v1:MITxT+{mm_course.course_number}")
        CourseId.objects.create(micromasters_id=mm_course.id, course=course)
        mapping = None
        if revision:
            mapping = CourseCertificateRevisionId.objects.create(
                course=course, certificate_page_revision=RevisionFactory()
            )
        return SimpleNamespace(mm=mm_course, course=course, revision=mapping)

    return make


@pytest.fixture
def mapped_program(mm):
    """A MicroMasters program mapped to a MITx Online program with a certificate revision."""

    def make(**mm_fields):
        mm_program = mm_factories.MMProgramFactory(**mm_fields)
        program = ProgramFactory()
        mapping = ProgramId.objects.create(
            micromasters_id=mm_program.id,
            program=program,
            program_certificate_revision=RevisionFactory(),
        )
        return SimpleNamespace(mm=mm_program, program=program, mapping=mapping)

    return make


@pytest.fixture
def imported_run(mm):
    """A MITx Online run standing for a MicroMasters run (same course key), as 002 makes it."""

    def make(mm_run, course, **fields):
        return CourseRunFactory(
            course=course,
            courseware_id=mm_run.edx_course_key,
            run_tag=mm_run.edx_course_key.rsplit("+", 1)[-1],
            **fields,
        )

    return make


@pytest.fixture
def course_with_run(mapped_course, imported_run):
    """A mapped course, a MicroMasters run of it, and that run as 002 imported it."""

    def make():
        mapped = mapped_course()
        mm_run = mm_factories.MMCourseRunFactory(course=mapped.mm)
        return mapped, mm_run, imported_run(mm_run, mapped.course)

    return make


@pytest.fixture
def enrolled_passer(learner):
    """A learner who passed the proctored exam of a mapped course, with a cached enrollment in
    one of its runs (both what 003 needs), unless `mm_run` is None."""

    def make(mapped, mm_run, **enrollment_fields):
        person = learner()
        mm_factories.MMProctoredExamGradeFactory(user=person.mm, course=mapped.mm)
        if mm_run is not None:
            mm_factories.MMCachedEnrollmentFactory(
                user=person.mm, course_run=mm_run, **enrollment_fields
            )
        return person

    return make


@pytest.fixture
def sellable_run(imported_run):
    """A MicroMasters run of a mapped course, its MITx Online run, and (unless `product` is
    False) an active versioned product for it: what the order steps sell."""

    def make(mapped, price="250.00", product=True):
        mm_run = mm_factories.MMCourseRunFactory(course=mapped.mm)
        run = imported_run(mm_run, mapped.course)
        made = VersionedProductFactory(purchasable_object=run, price=price) if product else None
        return SimpleNamespace(mm=mm_run, run=run, product=made)

    return make


@pytest.fixture
def unlinkable(mm):
    """Three MicroMasters users whose MITx Online account cannot be found: one who never linked
    an account and one linked to edX.org only (no_linked_account), and one whose mitxonline uid
    no MITx Online user has (unknown_mitxonline_user)."""
    unlinked = mm_factories.MMUserFactory()
    edx_only = mm_factories.MMUserFactory()
    mm_factories.MMSocialAuthFactory(user=edx_only, provider="edxorg")
    unknown_uid = mm_factories.MMUserFactory()
    mm_factories.MMSocialAuthFactory(user=unknown_uid, uid="nobody-in-mitxonline")
    return [unlinked, edx_only, unknown_uid]


@pytest.fixture
def drop_unique(mm):
    """Drop the UNIQUE constraint on some columns of a table, as a damaged database lacks it.

    `drop_unique("micromasters", "grades_finalgrade", "user_id", "course_run_id")`; the DDL
    rolls back with the test.
    """

    def drop(schema, table, *columns):
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT c.conname FROM pg_constraint c
                  JOIN pg_class t ON t.oid = c.conrelid
                  JOIN pg_namespace n ON n.oid = t.relnamespace
                 WHERE n.nspname = %s AND t.relname = %s AND c.contype = 'u'
                   AND ARRAY(SELECT a.attname::text FROM unnest(c.conkey) k
                               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k
                              ORDER BY a.attname) = %s
                """,
                [schema, table, sorted(columns)],
            )
            (name,) = cursor.fetchone()
            cursor.execute(
                sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT {}").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.Identifier(name)
                )
            )

    return drop
