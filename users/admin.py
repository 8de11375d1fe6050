"""Admin for MITx Online users: searchable by username and email so autocompletes work."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from users.models import User


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserChangeAdminForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    list_display = (
        "id",
        "username",
        "email",
        "name",
        "is_active",
        "is_staff",
        "is_superuser",
        "created_on",
    )
    list_filter = ("is_active", "is_staff", "is_superuser", "is_etl")
    search_fields = ("username", "email", "name", "global_id")
    ordering = ("-id",)
    readonly_fields = ("created_on", "updated_on", "last_login")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("name", "email", "global_id")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_etl",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        (
            "SCIM",
            {
                "classes": ("collapse",),
                "fields": ("scim_id", "scim_external_id", "scim_username"),
            },
        ),
        (
            "Dates",
            {"fields": ("last_login", "hubspot_sync_datetime", "created_on", "updated_on")},
        ),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
