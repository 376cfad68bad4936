from django.contrib import admin

from finetune.models import Adapter


@admin.register(Adapter)
class AdapterAdmin(admin.ModelAdmin):
    """Adapters are made by jobs; staff only choose which ones every chat user may pick."""

    list_display = ["name", "dataset", "manual_prompt", "selectable", "created"]
    list_editable = ["selectable"]
    list_filter = ["selectable", "manual_prompt"]
    search_fields = ["name"]
    fields = ["name", "dataset", "job", "manual_prompt", "path", "selectable", "created"]
    readonly_fields = ["name", "dataset", "job", "manual_prompt", "path", "created"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # evaluations, promotions and datasets refer to it
