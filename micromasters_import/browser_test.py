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

    # Run step 002 for real; readiness links its ledger row, and the ledger is browsable.
    call_command("import_micromasters_data", num=["002"], interactive=False, stdout=StringIO())
    page.reload()
    step = page.locator("#mm-step-002")
    expect(step).to_contain_text("done")
    step.locator("a").click()
    expect(page.locator("h1")).to_contain_text("View import run")
    expect(page.locator(".field-what_came_over")).to_contain_text("002_course_runs")
    page.click(".field-run_link a")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.screenshot(path=shots / "7_runs.png", full_page=True)
    page.locator("#result_list tbody tr th a").click()
    expect(page.locator(".field-step_links")).to_contain_text("002_course_runs")
    page.screenshot(path=shots / "8_run_detail.png", full_page=True)
