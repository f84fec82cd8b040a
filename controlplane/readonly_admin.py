"""A ModelAdmin for records that only the system writes: the audit log, built documents, metrics,
decision and delivery logs. People may look; nobody adds, edits or deletes them in the admin."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
