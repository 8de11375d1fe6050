"""factory-boy factory for the stand-in B2B contract page."""

import factory
from factory.django import DjangoModelFactory

from b2b.models import ContractPage


class ContractPageFactory(DjangoModelFactory):
    name = factory.Sequence(lambda n: f"Contract {n}")

    class Meta:
        model = ContractPage
