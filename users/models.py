"""Placeholder, replaced by the real MITx Online user model."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    pass
