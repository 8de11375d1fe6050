"""Fixtures shared by every app's tests."""

import pytest


@pytest.fixture
def staff_client(client, admin_user):
    """A Django test client logged in as a superuser, for admin page tests."""
    client.force_login(admin_user)
    return client
