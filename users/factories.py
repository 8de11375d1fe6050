"""factory-boy factories for MITx Online users."""

import uuid

import factory
from django.contrib.auth.hashers import make_password
from factory.django import DjangoModelFactory

from users.models import User

# Hashing a real password per user would make every test slow; tests that log in use
# `client.force_login` or set a password explicitly.
_UNUSABLE_PASSWORD = make_password(None)


class UserFactory(DjangoModelFactory):
    """A learner account with a unique username and e-mail address."""

    username = factory.Sequence(lambda n: f"learner{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    name = factory.Faker("name")
    password = _UNUSABLE_PASSWORD
    global_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    is_active = True
    is_staff = False
    is_superuser = False

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        staff = factory.Trait(is_staff=True)
        superuser = factory.Trait(is_staff=True, is_superuser=True)
