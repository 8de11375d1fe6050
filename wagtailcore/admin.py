from django.contrib import admin

from wagtailcore.models import Revision


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ("id", "object_str", "created_at")
    search_fields = ("object_str",)
    ordering = ("-id",)
