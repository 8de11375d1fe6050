"""The project's root app: settings validation, and the stand-ins' admin kept read-only where
the tables are MITx Online's own."""

from django.apps import AppConfig
from django.conf import settings


def make_view_only(site, app_labels) -> list[str]:
    """Let the admin pages of these apps' models show rows but never add, change or delete.

    With MITXONLINE_TARGET=mitxonline the stand-in apps' models map onto MITx Online's real
    tables: their admin pages are useful to look at what an import wrote, but the models carry
    only the columns the import writes, so an add would fail on MITx Online's other NOT NULL
    columns and a change or delete would edit a live site's data from a migration tool.
    Returns the labels of the models it changed.
    """
    changed = []
    for model, model_admin in site._registry.items():
        if model._meta.app_label not in app_labels:
            continue
        for permission in ("has_add_permission", "has_change_permission", "has_delete_permission"):
            setattr(model_admin, permission, _never)
        changed.append(model._meta.label)
    return sorted(changed)


def _never(*args, **kwargs) -> bool:
    return False


class RootConfig(AppConfig):
    name = "main"

    def ready(self):
        """Fail at start-up, not halfway through a migration, when a required setting is missing;
        on MITx Online's own database, keep the stand-ins' admin pages read-only."""
        from django.contrib import admin
        from mitol.common import envs

        envs.validate()
        if settings.MITXONLINE_TARGET == "mitxonline":
            make_view_only(admin.site, set(settings.STANDIN_APPS))
