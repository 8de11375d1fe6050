"""The learners left behind: exactly the unlinkable learners, with what waits for each.

On the report scenario world, N1-N3 have no mitxonline link and K1-K2 a uid no MITx Online
user has; every other learner imports (or is skipped for a reason that is not their account).
"""

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError
from django.db import connection
from django.urls import reverse

from courses.models import (
    CourseRunCertificate,
    CourseRunEnrollment,
    CourseRunGrade,
    ProgramCertificate,
    ProgramEnrollment,
)
from ecommerce.models import Order
from flexiblepricing.models import FlexiblePrice
from micromasters_import.engine import left_behind
from micromasters_import.source import factories as mm_factories
from micromasters_import.testing import report_scenario
from micromasters_import.testing.commands import import_all, report
from users.factories import UserFactory

# Each kind of waiting row, and the step whose run report counts it.
STEP_OF = {
    "enrollments": "003",
    "financial_aid": "004",
    "orders": "005",
    "grades": "008",
    "course_certificates": "009",
    "program_enrollments": "011",
    "program_certificates": "012",
}
ONE_OF_EACH = dict.fromkeys(left_behind.WAITING, 1)


@pytest.fixture
def world(mm):
    return report_scenario.build()


@pytest.fixture
def operator(db):
    """A staff user (not a superuser) holding the explicit permission."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_learners_left_behind"))
    return user


def by_id(learners):
    return {learner.mm_user_id: learner for learner in learners}


def test_the_list_is_exactly_the_unlinkable_learners_with_what_waits_for_each(world):
    n1, n2, n3 = world.unlinked
    k1, k2 = world.unknown
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE micromasters.auth_user SET first_name = 'Ada', last_name = 'Lovelace' "
            "WHERE id = %s",
            [n1.mm.id],
        )
    mm_factories.MMProfileFactory(user=k1.mm, first_name="Grace", last_name="Hopper")
    UserFactory(email=n2.mm.email.upper())  # same email, another username: a hint only

    learners = by_id(left_behind.build())

    assert set(learners) == {n1.mm.id, n2.mm.id, n3.mm.id, k1.mm.id, k2.mm.id}
    for person in (n1, n2, n3):
        learner = learners[person.mm.id]
        assert (learner.reason, learner.mitxonline_username) == ("no_linked_account", None)
    for person in (k1, k2):
        learner = learners[person.mm.id]
        assert (learner.reason, learner.mitxonline_username) == (
            "unknown_mitxonline_user",
            person.social.uid,
        )
    for person in (n1, n2, n3, k1, k2):
        learner = learners[person.mm.id]
        assert (learner.username, learner.email) == (person.mm.username, person.mm.email)
        # a final grade, a course and a program certificate, a program enrollment, a cached
        # enrollment, an order and a financial aid request each
        assert {kind: getattr(learner, kind) for kind in left_behind.WAITING} == ONE_OF_EACH
        assert learner.waiting == 7
    assert learners[n1.mm.id].full_name == "Ada Lovelace"
    assert learners[k1.mm.id].full_name == "Grace Hopper"  # the profile's name
    assert learners[k2.mm.id].full_name == ""
    assert learners[n2.mm.id].email_in_mitxonline is True
    assert [learners[p.mm.id].email_in_mitxonline for p in (n1, n3, k1, k2)] == [False] * 4


def test_what_waits_adds_up_to_what_the_run_report_counts_for_the_account_reasons(world):
    batch = import_all()
    learners = left_behind.build()
    reports = {row.step: row.report for row in batch.steps}
    for kind, step in STEP_OF.items():
        for reason in left_behind.REASONS:
            listed = sum(getattr(x, kind) for x in learners if x.reason == reason)
            assert listed == reports[step]["skipped"].get(reason, 0), (kind, reason)


def test_an_ambiguous_link_is_listed_with_its_reason(mm):
    UserFactory(username="shared-a")
    learner = mm_factories.MMUserFactory()
    mm_factories.MMSocialAuthFactory(user=learner, uid="shared-a")
    mm_factories.MMSocialAuthFactory(user=learner, uid="shared-b")
    mm_factories.MMProgramEnrollmentFactory(user=learner)
    linked = mm_factories.linked_learner()  # found in MITx Online: not left behind
    UserFactory(username=linked.username)
    mm_factories.MMProgramEnrollmentFactory(user=linked)
    mm_factories.MMUserFactory()  # no link, but nothing waits for them: not listed

    learners = left_behind.build()

    assert [(x.mm_user_id, x.reason, x.mitxonline_username) for x in learners] == [
        (learner.id, "ambiguous_mitxonline_link", "shared-a")
    ]
    assert learners[0].program_enrollments == 1
    assert learners[0].waiting == 1


def test_a_learner_who_links_leaves_the_list_after_the_next_import_and_their_rows_land(world):
    import_all()
    n1 = world.unlinked[0]
    k1 = world.unknown[0]
    assert {n1.mm.id, k1.mm.id} <= set(by_id(left_behind.build()))

    mm_factories.MMSocialAuthFactory(user=n1.mm, uid="mitx-late-linker")
    late = UserFactory(username="mitx-late-linker")
    found = UserFactory(username=k1.social.uid)  # K1's account now exists
    import_all()

    remaining = by_id(left_behind.build())
    assert set(remaining) == {p.mm.id for p in [*world.unlinked[1:], *world.unknown[1:]]}
    for user in (late, found):
        assert (
            CourseRunEnrollment.all_objects.filter(
                user=user, run__courseware_id=world.run_a1.edx_course_key
            ).count()
            == 1
        )
        assert CourseRunGrade.objects.filter(user=user).count() == 1
        assert CourseRunCertificate.all_objects.filter(user=user).count() == 1
        assert ProgramEnrollment.all_objects.filter(user=user).count() == 1
        assert ProgramCertificate.all_objects.filter(user=user).count() == 1
        assert Order.objects.filter(purchaser=user).count() == 1
        assert FlexiblePrice.objects.filter(user=user).count() == 1


# --- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_the_command_lists_them_for_a_staff_user_with_the_permission(world, operator, fmt):
    output = report(left_behind=True, username=operator.username, format=fmt)
    ids = {p.mm.id for p in [*world.unlinked, *world.unknown]}
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(output)))
        assert {int(row["mm_user_id"]) for row in rows} == ids
        assert list(rows[0]) == left_behind.COLUMNS
        assert {row["email_in_mitxonline"] for row in rows} == {"no"}
    elif fmt == "json":
        data = json.loads(output)
        assert {row["mm_user_id"] for row in data["learners"]} == ids
        assert data["totals"]["by_reason"] == {
            "no_linked_account": 3,
            "unknown_mitxonline_user": 2,
            "ambiguous_mitxonline_link": 0,
        }
        assert data["totals"]["waiting"] == dict.fromkeys(left_behind.WAITING, 5)
    else:
        assert output.splitlines()[-1] == (
            "5 learners left behind (3 no_linked_account, 2 unknown_mitxonline_user, "
            "0 ambiguous_mitxonline_link)"
        )
        for person in world.unknown:
            assert person.mm.username in output


@pytest.mark.parametrize("who", ["nobody", "no-permission", "not-staff", "inactive", "unknown"])
def test_the_command_refuses_anyone_but_a_staff_user_with_the_permission(world, who):
    permission = Permission.objects.get(codename="view_learners_left_behind")
    if who == "no-permission":
        UserFactory(username="who", is_staff=True)
    elif who in ("not-staff", "inactive"):
        user = UserFactory(username="who", is_staff=who == "inactive", is_active=who != "inactive")
        user.user_permissions.add(permission)
    options = {} if who == "nobody" else {"username": "who"}
    with pytest.raises(CommandError) as error:
        report(left_behind=True, **options)
    assert error.value.returncode == 2
    assert "\n" not in str(error.value)
    assert "micromasters_import.view_learners_left_behind" in str(error.value)


# --- the admin page ------------------------------------------------------------------------


def test_staff_without_the_permission_get_403_on_the_page_and_the_download(client, world):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_importrun"))
    client.force_login(staff)
    for name in ("left_behind", "left_behind_csv"):
        response = client.get(reverse(f"admin:micromasters_import_{name}"))
        assert response.status_code == 403, name


def test_staff_with_the_permission_see_the_page_and_download_the_csv(client, world, operator):
    client.force_login(operator)
    page = client.get(reverse("admin:micromasters_import_left_behind"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<strong>5 learners</strong> left behind" in html
    for person in [*world.unlinked, *world.unknown]:
        assert f'id="mm-learner-{person.mm.id}"' in html
    assert reverse("admin:micromasters_import_left_behind_csv") in html

    download = client.get(reverse("admin:micromasters_import_left_behind_csv"))
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv"
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert sorted(int(row["mm_user_id"]) for row in rows) == sorted(
        p.mm.id for p in [*world.unlinked, *world.unknown]
    )


def test_the_admin_index_links_the_page_only_for_holders_of_the_permission(client, world, operator):
    client.force_login(operator)
    assert (
        reverse("admin:micromasters_import_left_behind")
        in client.get(reverse("admin:index")).content.decode()
    )
    other = UserFactory(is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="view_importrun"))
    client.force_login(other)
    assert (
        reverse("admin:micromasters_import_left_behind")
        not in client.get(reverse("admin:index")).content.decode()
    )
