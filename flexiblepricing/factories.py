"""factory-boy factories for financial-assistance tiers and requests."""

from datetime import UTC

import factory
from factory import fuzzy
from factory.django import DjangoModelFactory

from courses.factories import CourseFactory
from ecommerce.factories import DiscountFactory
from ecommerce.models import PaymentType
from flexiblepricing.models import (
    FlexiblePrice,
    FlexiblePriceStatus,
    FlexiblePriceTier,
    FlexiblePricingRequestSubmission,
)
from users.factories import UserFactory


class FlexiblePricingRequestSubmissionFactory(DjangoModelFactory):
    form_data = factory.LazyFunction(lambda: {"income": 10000})

    class Meta:
        model = FlexiblePricingRequestSubmission


class FlexiblePriceTierFactory(DjangoModelFactory):
    """A current tier of a course (as upstream); pass a program as `courseware_object` for DEDP."""

    courseware_object = factory.SubFactory(CourseFactory)
    discount = factory.SubFactory(DiscountFactory, payment_type=PaymentType.FINANCIAL_ASSISTANCE)
    current = True
    income_threshold_usd = fuzzy.FuzzyFloat(0, 100000)

    class Meta:
        model = FlexiblePriceTier


class FlexiblePriceFactory(DjangoModelFactory):
    user = factory.SubFactory(UserFactory)
    status = fuzzy.FuzzyChoice(FlexiblePriceStatus.values)
    income_usd = fuzzy.FuzzyFloat(0, 100000)
    original_income = factory.SelfAttribute("income_usd")
    original_currency = "USD"
    country_of_income = factory.Faker("country_code")
    country_of_residence = factory.Faker("country_code")
    date_exchange_rate = factory.Faker("date_time_this_year", tzinfo=UTC)
    date_documents_sent = factory.Faker("date_this_year")
    justification = factory.Faker("sentence")
    courseware_object = factory.SubFactory(CourseFactory)
    tier = factory.SubFactory(
        FlexiblePriceTierFactory, courseware_object=factory.SelfAttribute("..courseware_object")
    )

    class Meta:
        model = FlexiblePrice
