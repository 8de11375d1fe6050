from django.contrib import admin

from b2b.models import ContractPage


@admin.register(ContractPage)
class ContractPageAdmin(admin.ModelAdmin):
    list_display = ("page_ptr", "name")
    search_fields = ("name",)
