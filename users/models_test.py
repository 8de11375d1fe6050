"""The user model supports Django's tooling and keeps MITx Online's case-insensitive e-mail key."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, transaction

from users.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_factory_users_are_unique():
    first, second = UserFactory(), UserFactory()
    assert first.username != second.username
    assert first.email != second.email
    assert first.global_id
    assert first.global_id != second.global_id


def test_email_is_unique_ignoring_case():
    UserFactory(email="Learner@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="learner@example.com")


def test_createsuperuser_works_non_interactively(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-test-password")
    call_command(
        "createsuperuser",
        interactive=False,
        username="operator",
        email="operator@example.com",
        verbosity=0,
    )
    user = get_user_model().objects.get(username="operator")
    assert user.is_superuser
    assert user.is_staff
    assert user.check_password("a-long-test-password")


def test_create_user_is_not_staff():
    user = get_user_model().objects.create_user("someone", "someone@example.com", "pw")
    assert not user.is_staff
    assert not user.is_superuser
    assert user.is_active
