"""The operator's admin: mappings with their MicroMasters side, suggestions and readiness.

Every test reads a real `micromasters` schema (the `mm` fixture) through the same queries the
admin makes on the postgres_fdw mount; a test renames the schema to play "not mounted".
"""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from courses.factories import CourseFactory, ProgramFactory
from flexiblepricing.factories import FlexiblePriceTierFactory
from micromasters_import.factories import ImportRunFactory
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportBatch,
    ImportRun,
    ProgramId,
    ProgramTierId,
)
from micromasters_import.operator import source_lookup
from micromasters_import.source import factories as mm_factories
from wagtailcore.factories import RevisionFactory

MAPPING_MODELS = ["courseid", "programid", "programtierid", "coursecertificaterevisionid"]


def changelist(model_name):
    return reverse(f"admin:micromasters_import_{model_name}_changelist")


def add_url(model_name):
    return reverse(f"admin:micromasters_import_{model_name}_add")


def page(response):
    assert response.status_code == 200, response
    return response.content.decode()


@pytest.fixture
def unmounted(mm):
    """The source schema renamed away, inside the test's transaction (rolled back after)."""
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER SCHEMA "{mm}" RENAME TO "{mm}_away"')
    return mm


@pytest.fixture
def dedp(mm):
    """A MicroMasters program with one course, and its MITx Online twins, not mapped."""
    program = mm_factories.MMProgramFactory(title="Data, Economics, and Design of Policy")
    course = mm_factories.MMCourseFactory(
        program=program, title="Microeconomics", course_number="14.100x", edx_key="MITx+14.100x"
    )
    return {
        "mm_program": program,
        "mm_course": course,
        "program": ProgramFactory(
            title="Data, Economics, and Design of Policy", readable_id="program-v1:MITx+DEDP"
        ),
        "course": CourseFactory(title="Microeconomics", readable_id="course-v1:MITx+14.100x"),
    }


# --- the mapping admins ---------------------------------------------------------------------


def test_course_mappings_show_the_micromasters_number_title_and_program(staff_client, dedp):
    CourseId.objects.create(micromasters_id=dedp["mm_course"].id, course=dedp["course"])
    CourseId.objects.create(micromasters_id=987654, course=CourseFactory())

    html = page(staff_client.get(changelist("courseid")))

    assert "<strong>14.100x</strong> Microeconomics" in html
    assert "MITx+14.100x · program: Data, Economics, and Design of Policy" in html
    assert "not in MicroMasters: id 987654" in html
    assert "not mounted" not in html


def test_program_tier_and_revision_mappings_show_the_micromasters_side(staff_client, dedp):
    ProgramId.objects.create(micromasters_id=dedp["mm_program"].id, program=dedp["program"])
    tier = mm_factories.MMTierProgramFactory(
        program=dedp["mm_program"],
        tier=mm_factories.MMTierFactory(name="Tier 3"),
        income_threshold=50000,
        discount_amount=500,
    )
    ProgramTierId.objects.create(
        micromasters_tier_program_id=tier.id, flexible_price_tier=FlexiblePriceTierFactory()
    )
    CourseId.objects.create(micromasters_id=dedp["mm_course"].id, course=dedp["course"])
    CourseCertificateRevisionId.objects.create(
        course=dedp["course"], certificate_page_revision=RevisionFactory()
    )
    CourseCertificateRevisionId.objects.create(course=CourseFactory())

    assert "<strong>Data, Economics, and Design of Policy</strong>" in page(
        staff_client.get(changelist("programid"))
    )
    tiers = page(staff_client.get(changelist("programtierid")))
    assert "<strong>Tier 3</strong>: income &ge; $50,000 ($500 off)" in tiers
    assert "program: Data, Economics, and Design of Policy" in tiers
    revisions = page(staff_client.get(changelist("coursecertificaterevisionid")))
    assert f"<strong>14.100x</strong> Microeconomics (id {dedp['mm_course'].id})" in revisions
    assert "no CourseId maps this course: step 009 will not use this row" in revisions


def test_change_form_shows_the_micromasters_side(staff_client, dedp):
    mapping = CourseId.objects.create(micromasters_id=dedp["mm_course"].id, course=dedp["course"])
    url = reverse("admin:micromasters_import_courseid_change", args=[mapping.pk])
    html = page(staff_client.get(url))
    assert "<strong>14.100x</strong> Microeconomics" in html


def test_saving_an_id_micromasters_lacks_is_a_form_error(staff_client, dedp):
    response = staff_client.post(
        add_url("courseid"), {"micromasters_id": 987654, "course": dedp["course"].pk}
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["micromasters_id"]
    assert errors == [
        "There is no MicroMasters course with id 987654 (looked in "
        "micromasters.courses_course). Check the id in MicroMasters, or use the suggested "
        "mappings."
    ]
    assert "There is no MicroMasters course with id 987654" in response.content.decode()
    assert not CourseId.objects.exists()


def test_saving_an_id_micromasters_has_works(staff_client, dedp):
    response = staff_client.post(
        add_url("courseid"), {"micromasters_id": dedp["mm_course"].id, "course": dedp["course"].pk}
    )

    assert response.status_code == 302
    assert CourseId.objects.get().micromasters_id == dedp["mm_course"].id


@pytest.mark.parametrize(
    ("model_name", "field", "message"),
    [
        ("programid", "micromasters_id", "There is no MicroMasters program with id 987654"),
        (
            "programtierid",
            "micromasters_tier_program_id",
            "There is no MicroMasters tier program with id 987654",
        ),
    ],
)
def test_programs_and_tiers_are_checked_too(staff_client, mm, model_name, field, message):
    data = {field: 987654}
    if model_name == "programid":
        data["program"] = ProgramFactory().pk
    else:
        data["flexible_price_tier"] = FlexiblePriceTierFactory().pk

    response = staff_client.post(add_url(model_name), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field][0].startswith(message)


def test_add_form_takes_the_id_from_the_readiness_link(staff_client, mm):
    response = staff_client.get(add_url("courseid"), {"micromasters_id": 42})
    assert response.context["adminform"].form.initial["micromasters_id"] == "42"


# --- without a mount ------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", MAPPING_MODELS)
def test_mapping_pages_load_and_say_not_mounted(staff_client, dedp, unmounted, model_name):
    CourseId.objects.create(micromasters_id=dedp["mm_course"].id, course=dedp["course"])
    ProgramId.objects.create(micromasters_id=dedp["mm_program"].id, program=dedp["program"])
    ProgramTierId.objects.create(
        micromasters_tier_program_id=1, flexible_price_tier=FlexiblePriceTierFactory()
    )
    CourseCertificateRevisionId.objects.create(course=dedp["course"])

    html = page(staff_client.get(changelist(model_name)))
    expected = "The MicroMasters source is not mounted: schema &quot;micromasters&quot; does not"
    assert expected in html
    assert "(source not mounted)" in html
    assert "not mounted" in page(staff_client.get(add_url(model_name)))


def test_without_a_mount_a_mapping_saves_unchecked_and_says_so(staff_client, dedp, unmounted):
    response = staff_client.post(
        add_url("courseid"), {"micromasters_id": 987654, "course": dedp["course"].pk}, follow=True
    )

    assert CourseId.objects.get().micromasters_id == 987654
    warnings = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("MicroMasters course 987654 was not checked" in text for text in warnings)


def test_operator_pages_load_without_a_mount(staff_client, unmounted):
    suggestions_page = page(staff_client.get(reverse("admin:micromasters_import_suggestions")))
    readiness_page = page(staff_client.get(reverse("admin:micromasters_import_readiness")))
    assert "is not mounted" in suggestions_page
    assert "is not mounted" in readiness_page
    assert 'id="mm-step-002"' in readiness_page
    assert page(staff_client.get(reverse("admin:index")))


def test_a_failing_source_read_leaves_the_connection_usable(mm):
    """A remote error happens inside a savepoint: reported, and the transaction goes on."""
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{mm}".courses_program RENAME TO courses_program_real')
        cursor.execute(
            f'CREATE VIEW "{mm}".courses_program AS '
            f'SELECT p.* FROM "{mm}".courses_program_real p WHERE 1 / (p.id - p.id) = 1'
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{mm}".courses_program_real (title, live, financial_aid_availability, '
            "ga_tracking_id, price, created_on, updated_on, num_required_courses) "
            "VALUES ('P', true, true, '', 1, now(), now(), 1)"
        )

    problem = source_lookup.problem()

    assert problem.endswith("could not be read: division by zero")
    assert source_lookup.programs() is None
    assert CourseId.objects.count() == 0  # the connection still works
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


# --- suggestions ----------------------------------------------------------------------------


def test_suggestions_page_lists_proposals_with_evidence(staff_client, dedp):
    html = page(staff_client.get(reverse("admin:micromasters_import_suggestions")))

    course_key = f"course:{dedp['mm_course'].id}:{dedp['course'].id}"
    program_key = f"program:{dedp['mm_program'].id}:{dedp['program'].id}"
    assert f'value="{course_key}"' in html
    assert f'value="{program_key}"' in html
    assert "course key MITx+14.100x is the key of course-v1:MITx+14.100x" in html
    assert "program-v1:MITx+DEDP ends in the title&#x27;s initials DEDP" in html
    assert 'class="mm-badge mm-high"' in html
    assert not re.search(r"<input[^>]*\schecked", html)  # nothing is ticked for the operator
    assert not CourseId.objects.exists()


def test_suggestions_page_without_proposals_says_so_in_plain_words(staff_client, mm):
    html = page(staff_client.get(reverse("admin:micromasters_import_suggestions")))

    assert "No proposal: every MicroMasters course is mapped, or none matches a" in html
    assert "MITx Online course that is not mapped yet" in " ".join(html.split())
    assert "every MicroMasters program is mapped" in html


def test_suggestions_post_creates_only_the_ticked_ones(staff_client, dedp):
    course_key = f"course:{dedp['mm_course'].id}:{dedp['course'].id}"

    response = staff_client.post(
        reverse("admin:micromasters_import_suggestions"), {"proposal": [course_key]}, follow=True
    )

    mapping = CourseId.objects.get()
    assert (mapping.micromasters_id, mapping.course) == (dedp["mm_course"].id, dedp["course"])
    assert not ProgramId.objects.exists()
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == [f"Created {mapping}."]
    assert course_key not in response.content.decode()  # no longer proposed


def test_suggestions_post_with_nothing_ticked_creates_nothing(staff_client, dedp):
    response = staff_client.post(reverse("admin:micromasters_import_suggestions"), follow=True)
    assert not CourseId.objects.exists()
    assert "Nothing was ticked" in response.content.decode()


def test_suggestions_post_validates_again(staff_client, dedp):
    forged = f"course:987654:{dedp['course'].id}"
    taken = f"program:{dedp['mm_program'].id}:{dedp['program'].id}"
    ProgramId.objects.create(micromasters_id=dedp["mm_program"].id, program=ProgramFactory())

    response = staff_client.post(
        reverse("admin:micromasters_import_suggestions"), {"proposal": [forged, taken]}, follow=True
    )

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert not CourseId.objects.exists()
    assert ProgramId.objects.count() == 1
    assert messages[0].startswith(f"Not created ({forged}): micromasters_id: There is no")
    assert messages[1] == (
        f"Not created ({taken}): micromasters_id: "
        "Program ID mapping with this Micromasters id already exists."
    )


def test_suggestions_post_needs_the_add_permission(client, dedp):
    from django.contrib.auth.models import Permission

    from users.factories import UserFactory

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_courseid", "view_programid"])
    )
    client.force_login(viewer)
    url = reverse("admin:micromasters_import_suggestions")
    key = f"course:{dedp['mm_course'].id}:{dedp['course'].id}"

    assert 'disabled title="You may not add' in page(client.get(url))
    assert client.post(url, {"proposal": [key]}).status_code == 403
    assert not CourseId.objects.exists()


# --- readiness ------------------------------------------------------------------------------


def step_row(html, num):
    start = html.index(f'id="mm-step-{num}"')
    return html[start : html.index("</tr>", start)]


def test_readiness_shows_steps_reasons_and_unmapped_learner_data(staff_client, dedp):
    run = mm_factories.MMCourseRunFactory(course=dedp["mm_course"])
    mm_factories.MMCachedEnrollmentFactory.create_batch(2, course_run=run)
    mm_factories.MMCourseCertificateFactory(course=dedp["mm_course"])
    mm_factories.MMProgramEnrollmentFactory(program=dedp["mm_program"])
    tier = mm_factories.MMTierProgramFactory(program=dedp["mm_program"], income_threshold=25000)
    mm_factories.MMFinancialAidFactory(tier_program=tier)

    html = page(staff_client.get(reverse("admin:micromasters_import_readiness")))

    row = step_row(html, "002")
    assert "mm-badge mm-no" in row
    assert "mapping table micromasters_import_courseid is empty (needed by step 002)" in row
    assert "needs step(s) 002 done first" in step_row(html, "003")
    assert "mm-badge mm-yes" in step_row(html, "001")
    assert "1 MicroMasters course with learner data not mapped" in html
    assert "2 enrollments, 1 certificate" in html
    assert f"courseid/add/?micromasters_id={dedp['mm_course'].id}" in html
    assert "1 MicroMasters program with learner data not mapped" in html
    assert f"programid/add/?micromasters_id={dedp['mm_program'].id}" in html
    assert "1 current MicroMasters tier with financial aid requests not mapped" in html
    assert f"programtierid/add/?micromasters_tier_program_id={tier.id}" in html
    assert "1 financial aid request" in html
    for name in ("importbatch", "importrun", "courseid", "programid", "programtierid"):
        assert changelist(name) in html
    assert reverse("admin:micromasters_import_suggestions") in html


def test_readiness_once_mapped(staff_client, dedp):
    run = mm_factories.MMCourseRunFactory(course=dedp["mm_course"])
    mm_factories.MMCachedEnrollmentFactory(course_run=run)
    mm_factories.MMCourseCertificateFactory(course=dedp["mm_course"])
    CourseId.objects.create(micromasters_id=dedp["mm_course"].id, course=dedp["course"])

    html = page(staff_client.get(reverse("admin:micromasters_import_readiness")))

    assert "mm-badge mm-yes" in step_row(html, "002")
    assert "0 MicroMasters courses with learner data not mapped" in html
    assert "step 009 skips its certificates" in html
    assert f"coursecertificaterevisionid/add/?course={dedp['course'].id}" in html


def test_readiness_links_the_latest_run_of_each_step(staff_client, mm):
    import uuid

    from micromasters_import.engine.steps import discover

    step = next(s for s in discover() if s.num == "002")
    batch = uuid.uuid4()
    ImportBatch.objects.create(batch=batch, run_by="op@host")
    ImportRunFactory(name=step.name, checksum=step.checksum, rows_inserted=4, run_by="op@host")
    run = ImportRunFactory(
        batch=batch, name=step.name, checksum=step.checksum, rows_inserted=3, run_by="op@host"
    )

    html = page(staff_client.get(reverse("admin:micromasters_import_readiness")))

    assert reverse("admin:micromasters_import_importrun_change", args=[run.pk]) in step_row(
        html, "002"
    )
    # the rows every run of the step imported, not only the latest run's
    assert '<td class="mm-num">7</td>' in step_row(html, "002")
    assert "The latest import run's report" in html


def test_ledger_pages_link_each_other(staff_client, mm):
    import uuid

    batch = uuid.uuid4()
    run_row = ImportBatch.objects.create(batch=batch, run_by="op@host")
    step = ImportRun.objects.create(
        batch=batch, step="002", name="course_runs", checksum="x", status=ImportRun.FAILED
    )

    runs = page(staff_client.get(changelist("importbatch")))
    assert "1 <strong" in runs
    assert reverse("admin:micromasters_import_readiness") in runs
    detail = page(
        staff_client.get(reverse("admin:micromasters_import_importbatch_change", args=[run_row.pk]))
    )
    assert reverse("admin:micromasters_import_importrun_change", args=[step.pk]) in detail
    assert f"{changelist('importrun')}?q={batch}" in detail  # its step runs, listed
    steps = page(staff_client.get(changelist("importrun")))
    run_page = reverse("admin:micromasters_import_importbatch_change", args=[run_row.pk])
    assert f'<a href="{run_page}">{str(batch)[:8]}</a>' in steps
    assert "failed</strong>" in steps
    step_page = page(
        staff_client.get(reverse("admin:micromasters_import_importrun_change", args=[step.pk]))
    )
    assert f'<a href="{run_page}">{str(batch)[:8]}</a>' in step_page


def test_admin_index_links_the_operator_pages(staff_client):
    html = page(staff_client.get(reverse("admin:index")))
    assert reverse("admin:micromasters_import_readiness") in html
    assert reverse("admin:micromasters_import_suggestions") in html
    assert changelist("importbatch") in html
    app = page(staff_client.get(reverse("admin:app_list", args=["micromasters_import"])))
    assert reverse("admin:micromasters_import_readiness") in app
