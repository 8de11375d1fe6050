"""Every admin page an operator uses loads: the changelist, a search, the add and change forms.

The registry is iterated, so a model registered later is covered without touching this file.
One row of every model of this project is created first, so list_display columns and the
change form are rendered with data, not only on empty tables.
"""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def admin_ids(item):
    return item[0]._meta.label


@pytest.fixture
def admin_user(db):
    """A superuser without a hashed password (fast); `staff_client` logs it in directly."""
    from users.factories import UserFactory

    return UserFactory(superuser=True)


@pytest.fixture
def one_of_everything():
    """One row per model of every stand-in app, via the factories."""
    from b2b.factories import ContractPageFactory
    from courses import factories as courses_f
    from ecommerce import factories as ecommerce_f
    from flexiblepricing import factories as flexiblepricing_f
    from wagtailcore.factories import RevisionFactory

    courses_f.CourseRunEnrollmentFactory(run__b2b_contract=ContractPageFactory())
    courses_f.ProgramEnrollmentFactory()
    courses_f.CourseRunGradeFactory()
    courses_f.CourseRunCertificateFactory(
        certificate_page_revision=RevisionFactory(),
        verifiable_credential=courses_f.VerifiableCredentialFactory(),
    )
    courses_f.ProgramCertificateFactory()
    courses_f.PaidCourseRunFactory()
    line = ecommerce_f.LineFactory()
    ecommerce_f.TransactionFactory(order=line.order)
    ecommerce_f.ProgramProductFactory()
    flexiblepricing_f.FlexiblePriceFactory(
        cms_submission=flexiblepricing_f.FlexiblePricingRequestSubmissionFactory()
    )


@pytest.mark.parametrize("registered", REGISTERED, ids=admin_ids)
def test_changelist_and_search_load(staff_client, one_of_everything, registered):
    model, model_admin = registered
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert staff_client.get(url).status_code == 200
    if model_admin.search_fields:
        assert staff_client.get(url, {"q": "abc 1"}).status_code == 200


@pytest.mark.parametrize("registered", REGISTERED, ids=admin_ids)
def test_add_and_change_forms_load(staff_client, admin_user, rf, one_of_everything, registered):
    model, model_admin = registered
    opts = model._meta
    request = rf.get("/admin/")
    request.user = admin_user
    if model_admin.has_add_permission(request):
        add_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        assert staff_client.get(add_url).status_code == 200
    obj = model_admin.get_queryset(request).first()
    if obj is not None:
        change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert staff_client.get(change_url).status_code == 200


def test_user_autocomplete_searches_username_and_email(staff_client):
    from users.factories import UserFactory

    UserFactory(username="findme", email="someone@example.org")
    url = reverse("admin:autocomplete")
    params = {
        "app_label": "courses",
        "model_name": "courserunenrollment",
        "field_name": "user",
    }
    by_username = staff_client.get(url, {**params, "term": "findme"}).json()
    by_email = staff_client.get(url, {**params, "term": "someone@"}).json()
    assert [r["text"] for r in by_username["results"]] == ["findme <someone@example.org>"]
    assert by_email["results"] == by_username["results"]


def test_operator_can_add_a_user_through_the_admin(staff_client):
    from users.models import User

    response = staff_client.post(
        reverse("admin:users_user_add"),
        {
            "username": "newlearner",
            "email": "newlearner@example.com",
            "usable_password": "false",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(username="newlearner").email == "newlearner@example.com"


def test_editing_a_product_in_the_admin_creates_a_version(staff_client):
    from ecommerce.factories import ProductFactory, latest_product_version

    product = ProductFactory(description="Old", price="10.00")
    assert latest_product_version(product) is None
    response = staff_client.post(
        reverse("admin:ecommerce_product_change", args=[product.pk]),
        {
            "content_type": product.content_type_id,
            "object_id": product.object_id,
            "price": "12.50",
            "description": "New",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    version = latest_product_version(product)
    assert version.field_dict["price"] == Decimal("12.50")
    assert version.field_dict["description"] == "New"
