"""The page revision that imported certificates point at, as wagtail stores it.

Only columns that wagtail's `wagtailcore_revision` really has are declared (the key, its
timestamp and the object's display string), so the ORM can read this table in a real MITx
Online database too.
"""

from django.db import models
from django.utils import timezone


class Revision(models.Model):
    """A certificate page revision: imported certificates and the mappings keep its id."""

    created_at = models.DateTimeField(default=timezone.now)
    object_str = models.TextField(blank=True, default="", help_text="The page's title")

    class Meta:
        db_table = "wagtailcore_revision"

    def __str__(self):
        return f"Revision {self.pk}: {self.object_str or '(untitled)'}"
