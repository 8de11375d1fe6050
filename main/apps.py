"""The project's root app: settings validation and shared test helpers live here."""

from django.apps import AppConfig


class RootConfig(AppConfig):
    name = "main"

    def ready(self):
        """Fail at start-up, not halfway through a migration, when a required setting is missing."""
        from mitol.common import envs

        envs.validate()
