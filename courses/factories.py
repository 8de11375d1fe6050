"""factory-boy factories for the catalogue and learner-record models."""

from datetime import timedelta

import factory
from django.utils import timezone
from factory import fuzzy
from factory.django import DjangoModelFactory

from courses.models import (
    Course,
    CourseRun,
    CourseRunCertificate,
    CourseRunEnrollment,
    CourseRunGrade,
    PaidCourseRun,
    Program,
    ProgramCertificate,
    ProgramEnrollment,
    VerifiableCredential,
)
from users.factories import UserFactory


def _days(days):
    return factory.LazyFunction(lambda: timezone.now() + timedelta(days=days))


class VerifiableCredentialFactory(DjangoModelFactory):
    credential_data = factory.LazyFunction(lambda: {"type": ["VerifiableCredential"]})

    class Meta:
        model = VerifiableCredential


class ProgramFactory(DjangoModelFactory):
    title = factory.Sequence(lambda n: f"Program {n}")
    readable_id = factory.Sequence(lambda n: f"program-{n}")
    live = True

    class Meta:
        model = Program


class CourseFactory(DjangoModelFactory):
    title = factory.Sequence(lambda n: f"Course {n}")
    readable_id = factory.Sequence(lambda n: f"course-v1:PyT+Course{n}")
    live = True

    class Meta:
        model = Course


class CourseRunFactory(DjangoModelFactory):
    """A live, in-progress run; `language=''` as upstream, so the language index is not hit."""

    course = factory.SubFactory(CourseFactory)
    title = factory.LazyAttribute(lambda run: f"{run.course.title} run {run.run_tag}")
    courseware_id = factory.Sequence(lambda n: f"course-v1:PyT+CR{n}+R{n}")
    run_tag = factory.Sequence(lambda n: f"R{n}")
    start_date = _days(-30)
    end_date = _days(60)
    enrollment_start = _days(-60)
    enrollment_end = _days(30)
    upgrade_deadline = _days(30)
    expiration_date = _days(400)
    live = True
    is_self_paced = False
    b2b_contract = None
    is_source_run = False
    language = ""
    is_primary_language = False

    class Meta:
        model = CourseRun

    class Params:
        past = factory.Trait(
            start_date=_days(-400),
            end_date=_days(-300),
            enrollment_start=_days(-430),
            enrollment_end=_days(-310),
            upgrade_deadline=_days(-310),
            expiration_date=_days(-10),
        )
        in_future = factory.Trait(
            start_date=_days(30),
            end_date=_days(120),
            enrollment_start=_days(-10),
            enrollment_end=_days(60),
        )


class CourseRunEnrollmentFactory(DjangoModelFactory):
    user = factory.SubFactory(UserFactory)
    run = factory.SubFactory(CourseRunFactory)

    class Meta:
        model = CourseRunEnrollment

    class Params:
        inactive = factory.Trait(active=False, change_status="unenrolled")
        verified = factory.Trait(enrollment_mode="verified")


class ProgramEnrollmentFactory(DjangoModelFactory):
    user = factory.SubFactory(UserFactory)
    program = factory.SubFactory(ProgramFactory)

    class Meta:
        model = ProgramEnrollment

    class Params:
        inactive = factory.Trait(active=False, change_status="unenrolled")


class CourseRunGradeFactory(DjangoModelFactory):
    user = factory.SubFactory(UserFactory)
    course_run = factory.SubFactory(CourseRunFactory)
    grade = fuzzy.FuzzyFloat(0.0, 1.0)
    letter_grade = fuzzy.FuzzyChoice(["A", "B", "C", "D", "F"])
    passed = factory.LazyAttribute(lambda g: g.grade >= 0.5)
    set_by_admin = False

    class Meta:
        model = CourseRunGrade


class CertificateFactory(DjangoModelFactory):
    """What run and program certificates share: the learner, no certificate page, and the
    traits that make one hidden (`revoked`, `future_issue_date`) or shown (`past_issue_date`)."""

    user = factory.SubFactory(UserFactory)
    certificate_page_revision = None

    class Meta:
        abstract = True

    class Params:
        revoked = factory.Trait(is_revoked=True)
        past_issue_date = factory.Trait(issue_date=_days(-30))
        future_issue_date = factory.Trait(issue_date=_days(30))


class CourseRunCertificateFactory(CertificateFactory):
    course_run = factory.SubFactory(CourseRunFactory)

    class Meta:
        model = CourseRunCertificate


class ProgramCertificateFactory(CertificateFactory):
    program = factory.SubFactory(ProgramFactory)

    class Meta:
        model = ProgramCertificate


class PaidCourseRunFactory(DjangoModelFactory):
    """Not in upstream (tests there use `.objects.create`); the order is a fulfilled one."""

    user = factory.SubFactory(UserFactory)
    course_run = factory.SubFactory(CourseRunFactory)
    order = factory.SubFactory(
        "ecommerce.factories.OrderFactory",
        purchaser=factory.SelfAttribute("..user"),
        state="fulfilled",
    )

    class Meta:
        model = PaidCourseRun
