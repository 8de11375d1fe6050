"""Financial-assistance requests keep MITx Online's one-request-per-courseware rule."""

import pytest
import reversion
from django.db import IntegrityError, transaction

from courses.factories import ProgramFactory
from flexiblepricing.factories import FlexiblePriceFactory, FlexiblePriceTierFactory
from flexiblepricing.models import FlexiblePrice

pytestmark = pytest.mark.django_db


def test_flexible_price_is_registered_with_reversion():
    assert reversion.is_registered(FlexiblePrice)


def test_tier_and_request_share_the_courseware():
    request = FlexiblePriceFactory()
    assert request.tier.courseware_object == request.courseware_object
    assert request.tier.discount.payment_type == "financial-assistance"


def test_one_request_per_user_and_courseware():
    program = ProgramFactory()
    tier = FlexiblePriceTierFactory(courseware_object=program)
    first = FlexiblePriceFactory(courseware_object=program, tier=tier)
    with pytest.raises(IntegrityError), transaction.atomic():
        FlexiblePriceFactory(courseware_object=program, tier=tier, user=first.user)
