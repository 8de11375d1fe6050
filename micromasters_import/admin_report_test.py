"""The run report in the admin: on every import run and every step run, read-only, as a report.

An import run's page has a row per step with its counts and a stacked bar, the skip reasons
most frequent first with links to their sample source rows, and the checks as badges.
"""

import re
from html import unescape

import pytest
from django.urls import reverse

from courses.factories import CourseRunCertificateFactory
from micromasters_import.engine import outcomes
from micromasters_import.models import ImportBatch, ImportedRow, ImportRun
from micromasters_import.testing import report_scenario
from micromasters_import.testing.commands import import_all


@pytest.fixture
def batch(mm):
    world = report_scenario.build()
    batch = import_all()
    batch.world = world
    return batch


def run_page(client, batch) -> str:
    response = client.get(reverse("admin:micromasters_import_importbatch_change", args=[batch.pk]))
    assert response.status_code == 200
    return response.content.decode()


def step_block(html: str, step: str) -> str:
    """The <tbody> of one step in the report table."""
    start = f'<tbody class="mm-report-step" id="mm-report-{step}"'
    match = re.search(rf"{start}.*?</tbody>", html, re.S)
    assert match, step
    return match.group(0)


def numbers(block: str) -> list[int]:
    """The counts of a step's row: candidates, inserted, already present, skipped."""
    return [int(n) for n in re.findall(r'<td class="mm-num">(\d+)</td>', block)]


def test_a_run_has_a_row_per_step_with_its_counts_and_a_bar(staff_client, batch):
    html = run_page(staff_client, batch)

    for step, expected in report_scenario.EXPECTED_FIRST_RUN.items():
        block = step_block(html, step)
        skipped = sum(expected["skipped"].values())
        assert numbers(block) == [
            expected["candidates"],
            expected["inserted"],
            expected["already_present"],
            skipped,
        ], step
        segments = re.findall(
            r'class="mm-seg" data-code="([a-z_]+)" style="width: ([\d.]+)%', block
        )
        if expected["candidates"]:
            # inserted, present, then every reason: the widths add up to the whole bar
            assert abs(sum(float(width) for _, width in segments) - 100) < 0.1, step
            assert [code for code, _ in segments][: 1 if expected["inserted"] else 0] == (
                ["inserted"] if expected["inserted"] else []
            )
        else:
            assert segments == []
            assert "no candidates" in block


def test_skip_reasons_are_sorted_by_count_in_words_with_links_to_their_source_rows(
    staff_client, batch
):
    html = run_page(staff_client, batch)

    for step, expected in report_scenario.EXPECTED_FIRST_RUN.items():
        block = step_block(html, step)
        shown = re.findall(r'<li data-code="([a-z_]+)">', block)
        assert shown == sorted(expected["skipped"], key=lambda c: (-expected["skipped"][c], c))
        for code in shown:
            assert outcomes.describe(code) in unescape(block), (step, code)
    block = step_block(html, "009")
    for cert in batch.world.no_revision_certs:
        url = reverse("admin:micromasters_import_source_row", args=["009", cert.id])
        assert f'<a href="{url}">{cert.id}</a>' in block
    assert "The ids are MicroMasters grades_micromasterscoursecertificate rows" in block


def test_a_sample_link_describes_the_source_row(staff_client, batch):
    cert = batch.world.no_revision_certs[0]

    response = staff_client.get(
        reverse("admin:micromasters_import_source_row", args=["009", cert.id])
    )

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "MicroMasters grades_micromasterscoursecertificate" in html
    assert f'<th scope="row">hash</th><td>{cert.hash}</td>' in html
    assert f'<th scope="row">course_id</th><td>{cert.course_id}</td>' in html
    assert f"--explain-user {cert.user.username}" in html
    missing = staff_client.get(
        reverse("admin:micromasters_import_source_row", args=["009", 987654321])
    )
    assert "has no row 987654321" in missing.content.decode()
    assert (
        staff_client.get(
            reverse("admin:micromasters_import_source_row", args=["001", 1])
        ).status_code
        == 404
    )


def test_the_checks_are_a_list_of_badges(staff_client, batch):
    html = run_page(staff_client, batch)

    checks = re.findall(
        r'<li class="mm-check mm-check-([a-z]+)">'
        r'<span class="mm-badge mm-check-\1">([A-Z/]+)</span>\s*<strong>([^<]+)</strong>',
        html,
    )
    assert [(status, badge) for status, badge, _ in checks] == [
        (status, status.upper()) for status in report_scenario.EXPECTED_CHECKS
    ]
    assert checks[2][2] == "no user has two certificates for one course"
    assert checks[4][2] == "no MITx Online user holds the rows of two MicroMasters users"


def test_a_warning_and_a_failure_are_badged_and_counted_in_the_list(staff_client, batch):
    CourseRunCertificateFactory(user=batch.world.good[0].user, course_run=batch.world.a2)
    latest = import_all()
    checks = latest.invariants
    checks[3] = {**checks[3], "status": "warn", "detail": "1 fulfilled order(s) have no payment"}
    latest.invariants = checks
    latest.save()

    html = run_page(staff_client, latest)
    listing = staff_client.get(
        reverse("admin:micromasters_import_importbatch_changelist")
    ).content.decode()

    assert '<span class="mm-badge mm-check-fail">FAIL</span>' in html
    assert '<span class="mm-badge mm-check-warn">WARN</span>' in html
    assert "Checks: 3 pass, 1 fail, 1 warn, 1 info" in html
    assert "all pass" in listing  # the first run
    assert '<span class="mm-badge mm-check-fail">1 failed</span>' in listing
    assert '<span class="mm-badge mm-check-warn">1 warned</span>' in listing


def test_one_name_for_a_run_and_one_for_a_step_run_throughout_the_admin(staff_client, batch):
    html = run_page(staff_client, batch)
    short = str(batch.batch)[:8]

    assert f"<title>Import run {short} |" in html
    assert f"<h1>Import run {short}</h1>" in html
    assert "import batch" not in html.lower()
    assert "Dry run" not in html
    assert "icon-no" not in html  # no red cross for "not a dry run"
    assert "real: each step committed" in html
    assert "<code>import_micromasters_data --all</code>" in html
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert "Import runs" in index
    assert "Step runs" in index
    words = re.sub(r"<[^>]+>", " ", unescape(index)).lower()  # what is read, not the URLs
    assert "batch" not in words
    runs = staff_client.get(reverse("admin:micromasters_import_importbatch_changelist"))
    assert "<h1>Import runs</h1>" in runs.content.decode()
    step = ImportRun.objects.get(batch=batch.batch, step="009")
    step_html = staff_client.get(
        reverse("admin:micromasters_import_importrun_change", args=[step.pk])
    ).content.decode()
    assert "<h1>Step run 009_course_certificates</h1>" in step_html


def test_a_step_run_shows_its_own_row_bar_and_reasons(staff_client, batch):
    row = ImportRun.objects.get(batch=batch.batch, step="009")

    response = staff_client.get(
        reverse("admin:micromasters_import_importrun_change", args=[row.pk])
    )

    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "What came over, and why not" in page
    assert page.count('<tbody class="mm-report-step"') == 1
    expected = report_scenario.EXPECTED_FIRST_RUN["009"]
    assert numbers(step_block(page, "009")) == [
        expected["candidates"],
        expected["inserted"],
        expected["already_present"],
        sum(expected["skipped"].values()),
    ]
    assert "certificate revision mapping missing (CourseCertificateRevisionId)" in page
    assert "another source row for the same target row was chosen" in page


def test_an_unchanged_rerun_says_so_on_its_page(staff_client, batch):
    again = import_all()

    html = run_page(staff_client, again)

    block = step_block(html, "009")
    assert '<span class="mm-status mm-status-unchanged">unchanged</span>' in block
    assert f"nothing it reads changed since run {str(batch.batch)[:8]}" in block


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


def test_a_step_run_lists_the_rows_it_inserted_per_table_linked_to_their_provenance(
    staff_client, batch
):
    step = ImportRun.objects.get(batch=batch.batch, step="009")
    page = staff_client.get(reverse("admin:micromasters_import_importrun_change", args=[step.pk]))
    html = unescape(page.content.decode())
    changelist = reverse("admin:micromasters_import_importedrow_changelist")
    link = f"{changelist}?ledger__id__exact={step.pk}&target_table=courses_courseruncertificate"
    assert (
        f'<a href="{link}">{step.rows_inserted} row(s) in courses_courseruncertificate</a>' in html
    )

    listing = staff_client.get(link)
    assert listing.status_code == 200
    assert f"{step.rows_inserted} imported rows" in unescape(listing.content.decode())
    certificate = ImportedRow.objects.filter(ledger=step).first()
    assert f">{certificate.source_id}<" in listing.content.decode()
