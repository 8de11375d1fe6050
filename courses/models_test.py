"""The managers and save() rules of the catalogue models behave as MITx Online's do."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from courses.factories import (
    CourseFactory,
    CourseRunCertificateFactory,
    CourseRunEnrollmentFactory,
    CourseRunFactory,
    CourseRunGradeFactory,
    PaidCourseRunFactory,
    ProgramCertificateFactory,
    ProgramEnrollmentFactory,
    ProgramFactory,
)
from courses.models import (
    CourseRun,
    CourseRunCertificate,
    CourseRunEnrollment,
    ProgramCertificate,
    ProgramEnrollment,
)

pytestmark = pytest.mark.django_db


def test_factories_follow_upstream_naming():
    program = ProgramFactory()
    run = CourseRunFactory()
    assert program.readable_id.startswith("program-")
    assert run.course.readable_id.startswith("course-v1:PyT+Course")
    assert run.courseware_id.startswith("course-v1:PyT+CR")
    assert run.run_tag.startswith("R")
    assert run.language == ""


@pytest.mark.parametrize(
    ("factory", "model", "shown", "hidden"),
    [
        (CourseRunEnrollmentFactory, CourseRunEnrollment, {}, [{"inactive": True}]),
        (ProgramEnrollmentFactory, ProgramEnrollment, {}, [{"inactive": True}]),
        (
            CourseRunCertificateFactory,
            CourseRunCertificate,
            {"past_issue_date": True},
            [{"revoked": True}, {"future_issue_date": True}],
        ),
        (
            ProgramCertificateFactory,
            ProgramCertificate,
            {"past_issue_date": True},
            [{"revoked": True}, {"future_issue_date": True}],
        ),
    ],
)
def test_inactive_enrollments_revoked_and_future_certificates_are_hidden_from_objects(
    factory, model, shown, hidden
):
    visible = factory(**shown)
    invisible = [factory(**traits) for traits in hidden]
    assert list(model.objects.all()) == [visible]
    assert set(model.all_objects.all()) == {visible, *invisible}
    assert model._default_manager.name == "objects"


def test_a_run_enrollment_is_audit_with_no_retries_by_default():
    enrollment = CourseRunEnrollmentFactory(inactive=True)
    assert enrollment.edx_enrollment_retry_count == 0
    assert enrollment.enrollment_mode == "audit"


def test_certificate_issue_date_defaults_to_created_on_when_emptied():
    certificate = CourseRunCertificateFactory()
    certificate.issue_date = None
    certificate.save()
    certificate.refresh_from_db()
    assert certificate.issue_date == certificate.created_on


def test_course_run_default_manager_includes_source_runs():
    course = CourseFactory()
    usable = CourseRunFactory(course=course)
    source = CourseRunFactory(course=course, is_source_run=True)
    legacy_source = CourseRunFactory(course=course, run_tag="SOURCE")
    assert CourseRun._default_manager.name == "all_objects"
    assert set(CourseRun.all_objects.all()) == {usable, source, legacy_source}
    assert list(CourseRun.objects.all()) == [usable]


def test_course_run_rejects_expiration_before_end():
    with pytest.raises(ValidationError):
        CourseRunFactory(expiration_date=timezone.now(), end_date=timezone.now() + timedelta(1))


def test_language_index_ignores_empty_language_and_treats_null_contract_as_equal():
    course = CourseFactory()
    CourseRunFactory(course=course, run_tag="R1", language="")
    CourseRunFactory(course=course, run_tag="R1", language="")  # '' is outside the index
    CourseRunFactory(course=course, run_tag="R2", language="en")
    with pytest.raises(IntegrityError), transaction.atomic():
        # same group with a NULL b2b_contract: NULLS NOT DISTINCT makes it a duplicate
        CourseRunFactory(course=course, run_tag="R2", language="en")


def test_grade_is_validated_on_orm_save():
    grade = CourseRunGradeFactory(grade=0.5)
    grade.grade = 2.5
    with pytest.raises(ValidationError):
        grade.save()


def test_paid_course_run_points_at_a_fulfilled_order_of_the_same_user():
    paid = PaidCourseRunFactory()
    assert paid.order.purchaser == paid.user
    assert paid.order.state == "fulfilled"
