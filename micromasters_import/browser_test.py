"""The operator's admin in a real browser: log in, accept a suggestion, see it saved and checked.

Headless Chromium from Debian's `chromium` package (`.ci/run` installs it when run as root),
driven by Playwright with the browser path given explicitly: Playwright's own browser
download is not used. The Django server is pytest-django's `live_server`, which runs in
another thread, so the data is committed (`transactional_db`, `mm_transactional`).

Set BROWSER_SCREENSHOT_DIR to keep the screenshots; they go to pytest's tmp_path otherwise.
"""

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from courses.factories import CourseFactory, ProgramFactory
from micromasters_import.models import CourseId
from micromasters_import.source import factories as mm_factories
from users.models import User

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# As root Chromium needs --no-sandbox; the network flags stop it from calling home, which this
# machine's closed network refuses (slowly, many times over).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium for this module, with a fresh profile (Playwright makes one)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install chromium chromium-driver; .ci/run does it when run as root) "
            "or set CHROMIUM_PATH"
        )
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are ordinary synchronous code, so Django's guard is lifted here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go: BROWSER_SCREENSHOT_DIR if set, else the test's tmp_path."""
    folder = Path(os.environ.get("BROWSER_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def world(mm_transactional):
    """A MicroMasters course with learners, its MITx Online twin, and an operator account."""
    program = mm_factories.MMProgramFactory(title="Data, Economics, and Design of Policy")
    course = mm_factories.MMCourseFactory(
        program=program, title="Microeconomics", course_number="14.100x", edx_key="MITx+14.100x"
    )
    run = mm_factories.MMCourseRunFactory(course=course)
    mm_factories.MMCachedEnrollmentFactory.create_batch(2, course_run=run)
    mm_factories.MMProgramEnrollmentFactory(program=program)
    User.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    return {
        "mm_course": course,
        "course": CourseFactory(title="Microeconomics", readable_id="course-v1:MITx+14.100x"),
        "program": ProgramFactory(
            title="Data, Economics, and Design of Policy", readable_id="program-v1:MITx+DEDP"
        ),
    }


def test_operator_accepts_a_suggestion_and_sees_a_wrong_id_refused(page, world, shots):
    from playwright.sync_api import expect

    mm_course = world["mm_course"]

    # Log in through the admin's own form.
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#mm-operator")).to_contain_text("MicroMasters import: operator pages")
    page.screenshot(path=shots / "1_index.png", full_page=True)

    # Readiness before: step 002 cannot run, the course with learners is not mapped.
    page.click("#mm-operator >> text=Readiness")
    expect(page.locator("#mm-step-002")).to_contain_text("no")
    expect(page.locator("#mm-step-002")).to_contain_text("micromasters_import_courseid is empty")
    expect(page.locator("#mm-unmapped-courses")).to_contain_text(
        "1 MicroMasters course with learner data not mapped"
    )
    page.screenshot(path=shots / "2_readiness_before.png", full_page=True)

    # The suggestions: one proposal per kind, with evidence; tick the course and create it.
    page.click("text=See the suggested mappings >> nth=0")
    row = page.locator(f"tr.mm-proposal[data-key^='course:{mm_course.id}:']")
    expect(row).to_contain_text("course key MITx+14.100x is the key of course-v1:MITx+14.100x")
    expect(row.locator(".mm-badge")).to_have_text("high")
    expect(page.locator("tr.mm-proposal[data-key^='program:']")).to_contain_text(
        "ends in the title's initials DEDP"
    )
    page.screenshot(path=shots / "3_suggestions.png", full_page=True)
    page.check(f"#proposal-course-{mm_course.id}")
    page.click("#mm-create")
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"Created MicroMasters course {mm_course.id} -> course-v1:MITx+14.100x"
    )
    expect(page.locator(f"tr.mm-proposal[data-key^='course:{mm_course.id}:']")).to_have_count(0)
    # The program proposal was not ticked, so it was not created.
    expect(page.locator("tr.mm-proposal[data-key^='program:']")).to_have_count(1)

    # The mapping is saved, and its list shows the MicroMasters side.
    page.click("text=Course ID mappings")
    result = page.locator("#result_list tbody tr")
    expect(result).to_have_count(1)
    expect(result).to_contain_text("14.100x Microeconomics")
    expect(result).to_contain_text("program: Data, Economics, and Design of Policy")
    page.screenshot(path=shots / "4_course_mappings.png", full_page=True)
    mapping = CourseId.objects.get()
    assert (mapping.micromasters_id, mapping.course_id) == (mm_course.id, world["course"].id)

    # A wrong MicroMasters id is refused with a clear error, and nothing changes.
    result.locator("th a").click()
    page.fill("#id_micromasters_id", "987654")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text(
        "There is no MicroMasters course with id 987654"
    )
    page.screenshot(path=shots / "5_wrong_id.png", full_page=True)
    assert CourseId.objects.get().micromasters_id == mm_course.id

    # Readiness after: step 002 can run.
    page.goto("/admin/micromasters_import/importrun/readiness/")
    expect(page.locator("#mm-step-002 .mm-badge")).to_have_text("yes")
    expect(page.locator("#mm-unmapped-courses")).to_contain_text("0 MicroMasters courses")
    page.screenshot(path=shots / "6_readiness_after.png", full_page=True)

    # Run step 002 for real; readiness links its step run, which links its import run.
    call_command("import_micromasters_data", num=["002"], interactive=False, stdout=StringIO())
    page.reload()
    step = page.locator("#mm-step-002")
    expect(step).to_contain_text("done")
    expect(step.locator("td.mm-num")).to_have_text("1")  # rows imported in total
    date = step.locator("td.mm-state .mm-nowrap").bounding_box()
    assert date["height"] < 24  # the date and time on one line
    step.locator("a").click()
    expect(page.locator("h1")).to_have_text("Step run 002_course_runs")
    expect(page.locator(".field-what_came_over #mm-report-002")).to_contain_text("course runs")
    page.screenshot(path=shots / "7_step_run.png", full_page=True)
    page.click(".field-run_link a")
    expect(page.locator("h1")).to_contain_text("Import run ")
    expect(page.locator("tbody.mm-report-step")).to_have_count(1)
    page.screenshot(path=shots / "8_run_detail.png", full_page=True)
    page.click("#mm-run-summary >> text=Its step runs")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)


def login(page):
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def overflowing(page, selector):
    """Elements matching `selector` that reach past the viewport or scroll sideways."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5
                          || el.scrollWidth > el.clientWidth + 1)
            .map(el => el.id || el.className || el.tagName)""",
        selector,
    )


def test_an_import_runs_report_reads_at_a_glance_at_1280_pixels(
    chromium, live_server, mm_transactional, shots
):
    from playwright.sync_api import expect

    from courses.factories import CourseRunCertificateFactory
    from micromasters_import.models import ImportBatch
    from micromasters_import.testing import report_scenario

    User.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    world = report_scenario.build()
    call_command("import_micromasters_data", all=True, interactive=False, stdout=StringIO())
    # a second certificate for one course: the next run's check fails
    CourseRunCertificateFactory(user=world.good[0].user, course_run=world.a2)
    call_command("import_micromasters_data", all=True, interactive=False, stdout=StringIO())
    batch = ImportBatch.objects.order_by("-id").first()
    expected = report_scenario.EXPECTED_FIRST_RUN

    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        login(page)
        page.goto(f"/admin/micromasters_import/importbatch/{batch.pk}/change/")
        page.screenshot(path=shots / "9_run_report_1280.png", full_page=True)

        # The table and its bars are drawn: a row per step, a bar for each step with candidates,
        # and every segment of a bar has a width.
        expect(page.locator("h1")).to_have_text(f"Import run {str(batch.batch)[:8]}")
        expect(page.locator("tbody.mm-report-step")).to_have_count(len(expected))
        with_candidates = [num for num, step in expected.items() if step["candidates"]]
        expect(page.locator(".mm-bar")).to_have_count(len(with_candidates))
        widths = page.eval_on_selector_all(
            ".mm-bar .mm-seg", "segs => segs.map(s => s.getBoundingClientRect().width)"
        )
        assert widths
        assert min(widths) > 0
        bar = page.locator("#mm-report-003 .mm-bar").bounding_box()
        assert bar["width"] > 100
        assert bar["height"] >= 10

        # Nothing is wider than the window: no sideways scrolling, no cut-off table or check.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        for selector in ["#content-main", "#mm-report-steps", "#mm-run-checks", ".mm-bar"]:
            assert overflowing(page, selector) == [], selector
        checks_box = page.locator("#mm-run-checks").bounding_box()
        assert checks_box["x"] + checks_box["width"] <= 1280

        # The skip reasons of a step, most frequent first, in words.
        for num in ["003", "004", "009"]:
            codes = page.eval_on_selector_all(
                f"#mm-report-{num} ol.mm-reasons li", "items => items.map(i => i.dataset.code)"
            )
            skipped = expected[num]["skipped"]
            assert codes == sorted(skipped, key=lambda code: (-skipped[code], code)), num
        expect(page.locator("#mm-report-009 li[data-code=revision_not_mapped]")).to_contain_text(
            "certificate revision mapping missing (CourseCertificateRevisionId)"
        )

        # The checks as badges: the failure is there, by name.
        badges = page.eval_on_selector_all(
            "#mm-run-checks .mm-badge", "badges => badges.map(b => b.textContent.trim())"
        )
        assert badges == ["PASS", "PASS", "FAIL", "PASS", "PASS", "INFO"]
        expect(page.locator("#mm-run-checks li.mm-check-fail")).to_contain_text(
            "no user has two certificates for one course"
        )

        # A sample id opens the MicroMasters row it stands for.
        cert = world.no_revision_certs[0]
        page.click(f"#mm-report-009 li[data-code=revision_not_mapped] >> text='{cert.id}'")
        expect(page.locator("#mm-source-row")).to_contain_text(cert.hash)
        page.screenshot(path=shots / "10_source_row.png", full_page=True)

        # The ledger lists: one line per row, nothing cut off at this width.
        for name, path in [("11_import_runs", "importbatch"), ("12_step_runs", "importrun")]:
            page.goto(f"/admin/micromasters_import/{path}/")
            heights = page.eval_on_selector_all(
                "#result_list tbody tr", "rows => rows.map(r => r.getBoundingClientRect().height)"
            )
            assert heights
            assert max(heights) < 56, (path, max(heights))  # two lines at most
            assert overflowing(page, "#changelist .results") == [], path
            page.screenshot(path=shots / f"{name}.png", full_page=True)
    finally:
        context.close()
