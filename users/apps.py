"""Users: the MITx Online accounts that MicroMasters learners are matched to."""

from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
