"""The run report in the admin: on every ledger row and on every run, read-only."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from courses.factories import CourseRunCertificateFactory
from micromasters_import import report_scenario
from micromasters_import.models import ImportBatch, ImportRun


def import_all(**options):
    call_command(
        "import_micromasters_data",
        all=True,
        interactive=False,
        stdout=StringIO(),
        stderr=StringIO(),
        **options,
    )
    return ImportBatch.objects.order_by("-id").first()


@pytest.fixture
def batch(mm):
    world = report_scenario.build()
    batch = import_all()
    batch.world = world
    return batch


def test_a_ledger_row_shows_its_steps_counts_and_skip_reasons_in_words(staff_client, batch):
    row = ImportRun.objects.get(batch=batch.batch, step="009")

    response = staff_client.get(
        reverse("admin:micromasters_import_importrun_change", args=[row.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "What came over, and why not" in page
    assert "009_course_certificates" in page
    assert "certificate revision mapping missing (CourseCertificateRevisionId)" in page
    assert "another source row for the same target row was chosen" in page
    assert "no linked mitxonline account" in page


def test_a_run_shows_the_whole_report_with_its_checks(staff_client, batch):
    response = staff_client.get(
        reverse("admin:micromasters_import_importbatch_change", args=[batch.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    for step in report_scenario.EXPECTED_FIRST_RUN:
        assert f"{step}_" in page
    assert "financial aid status not imported (skipped, reset)" in page
    assert "order has no reference number" in page
    assert "Checks:" in page
    assert "PASS  no user has two certificates for one course" in page


def test_the_list_of_runs_says_how_many_checks_failed(staff_client, batch):
    CourseRunCertificateFactory(user=batch.world.good[0].user, course_run=batch.world.a2)
    import_all()

    response = staff_client.get(reverse("admin:micromasters_import_importbatch_changelist"))

    page = response.content.decode()
    assert "all pass" in page
    assert "1 failed" in page
    latest = ImportBatch.objects.order_by("-id").first()
    detail = staff_client.get(
        reverse("admin:micromasters_import_importbatch_change", args=[latest.pk])
    ).content.decode()
    assert "FAIL  no user has two certificates for one course" in detail


def test_the_report_cannot_be_changed_or_deleted_from_the_admin(staff_client, batch):
    row = ImportRun.objects.get(batch=batch.batch, step="009")
    change = reverse("admin:micromasters_import_importrun_change", args=[row.pk])

    assert staff_client.post(change, {"status": "failed"}).status_code == 403
    batch_change = reverse("admin:micromasters_import_importbatch_change", args=[batch.pk])
    assert staff_client.post(batch_change, {"dry_run": "on"}).status_code == 403
    row.refresh_from_db()
    assert row.status == ImportRun.DONE
    delete = reverse("admin:micromasters_import_importbatch_delete", args=[batch.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert ImportBatch.objects.filter(pk=batch.pk).exists()
