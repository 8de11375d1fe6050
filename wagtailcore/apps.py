"""Stand-in for wagtail's core app, whose page revisions certificates point at.

MITx Online's certificate pages are wagtail pages; the import only needs the revision ids
they hand out. The label is wagtail's own (`wagtailcore`), so the import's foreign keys say
`wagtailcore.Revision` here and inside MITx Online alike, and the content type this project
registers is one a real MITx Online database already has.
"""

from django.apps import AppConfig


class WagtailcoreStandInConfig(AppConfig):
    name = "wagtailcore"
    label = "wagtailcore"
    verbose_name = "Wagtail (stand-in)"
