"""factory-boy factory for the stand-in certificate page revision."""

import factory
from factory.django import DjangoModelFactory

from wagtailcore.models import Revision


class RevisionFactory(DjangoModelFactory):
    object_str = factory.Sequence(lambda n: f"Certificate page revision {n}")

    class Meta:
        model = Revision
