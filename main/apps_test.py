"""On MITx Online's own database the stand-ins' admin pages show rows and change nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse

from main.apps import make_view_only
from users.factories import UserFactory
from users.models import User

ROOT = Path(__file__).resolve().parent.parent
PERMISSIONS = ("has_add_permission", "has_change_permission", "has_delete_permission")


@pytest.fixture
def view_only_site():
    """The project's admin site with the stand-ins made view-only, put back afterwards."""
    from django.conf import settings

    changed = make_view_only(admin.site, set(settings.STANDIN_APPS))
    yield changed
    for model_admin in admin.site._registry.values():
        for permission in PERMISSIONS:
            vars(model_admin).pop(permission, None)


@pytest.mark.django_db
def test_stand_in_pages_list_and_show_rows_but_refuse_every_write(client, view_only_site):
    staff = UserFactory(superuser=True)
    learner = UserFactory(username="learner-1", email="learner-1@example.org")
    client.force_login(staff)
    change = reverse("admin:users_user_change", args=[learner.pk])

    assert "users.User" in view_only_site
    assert "micromasters_import.CourseId" not in view_only_site
    listing = client.get(reverse("admin:users_user_changelist"))
    assert listing.status_code == 200
    assert "learner-1" in listing.text
    assert "delete_selected" not in listing.text
    page = client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert client.get(reverse("admin:users_user_add")).status_code == 403
    assert client.post(change, {"username": "renamed", "email": "x@example.org"}).status_code == 403
    assert client.post(reverse("admin:users_user_delete", args=[learner.pk])).status_code == 403
    assert User.objects.get(pk=learner.pk).username == "learner-1"
    # The import's own pages stay writable.
    assert client.get(reverse("admin:micromasters_import_courseid_add")).status_code == 200


def view_only_at_start_up(target: str) -> str:
    """Which permission methods a fresh interpreter's admin replaced, under MITXONLINE_TARGET."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "main.settings", "MITXONLINE_TARGET": target}
    script = (
        "import django; django.setup(); from django.contrib import admin; "
        "from django.apps import apps; "
        "ma = admin.site._registry[apps.get_model('users', 'User')]; "
        "mine = admin.site._registry[apps.get_model('micromasters_import', 'CourseId')]; "
        "print(sorted(vars(ma).keys() & {'has_add_permission', 'has_change_permission', "
        "'has_delete_permission'}), 'has_add_permission' in vars(mine))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_start_up_makes_the_stand_ins_view_only_on_mitxonline_only():
    replaced = "['has_add_permission', 'has_change_permission', 'has_delete_permission'] False"
    assert view_only_at_start_up("mitxonline") == replaced
    assert view_only_at_start_up("standins") == "[] False"
