"""Admin helpers shared by the apps that reproduce MITx Online's tables.

Several MITx Online models hide rows in their default manager (inactive enrollments,
revoked certificates, inactive products). An operator checking what an import wrote must
see those rows too, so their admin pages list `all_objects` instead.
"""

from django.contrib import admin


class AllObjectsAdminMixin(admin.ModelAdmin):
    """List and edit every row, including those the model's default manager hides."""

    def get_queryset(self, request):
        """Start from `all_objects`, keeping the admin's ordering rules."""
        queryset = self.model.all_objects.get_queryset()
        ordering = self.get_ordering(request)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return queryset
