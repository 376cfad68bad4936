"""Staff define widget types here; versions are created once and never edited."""

import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from widgets.admin_forms import (
    WidgetTypeChangeForm,
    WidgetTypeCreateForm,
    WidgetVersionCreateForm,
)
from widgets.json_input import load_json_strict
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.previews import version_preview
from widgets.services import (
    widget_type_create,
    widget_type_update,
    widget_version_activate,
    widget_version_create,
)
from widgets.version_diff import content_diff


def _content(version: WidgetSchemaVersion | None) -> dict | None:
    if version is None:
        return None
    return {f: getattr(version, f) for f in ("json_schema", "card_template", "examples")}


@admin.register(WidgetType)
class WidgetTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "enabled", "active_version", "grounded", "last_change"]
    list_filter = ["enabled"]
    search_fields = ["name", "title", "description"]
    change_form_template = "admin/widgets/widgettype/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(last_version_at=Max("versions__created"))

    @admin.display(description="active version")
    def active_version(self, obj):
        active = obj.versions.filter(is_active=True).first()
        return f"v{active.version}" if active else "—"

    @admin.display(description="grounded fields")
    def grounded(self, obj):
        return ", ".join(obj.grounded_fields) or "—"

    @admin.display(description="last change", ordering="last_version_at")
    def last_change(self, obj):
        return max(filter(None, [obj.updated, obj.last_version_at]))

    def has_delete_permission(self, request, obj=None):
        return False  # versions and stored messages reference it: disable it instead

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = WidgetTypeCreateForm if obj is None else WidgetTypeChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                "name",
                "title",
                "description",
                "enabled",
                "json_schema",
                "card_template",
                "examples",
                "is_action",
                "grounded_fields",
            ]
        return ["name", "title", "description", "enabled", "is_action", "grounded_fields"]

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            widget_type_update(
                widget=obj,
                title=data["title"],
                description=data["description"],
                enabled=data["enabled"],
                is_action=data["is_action"],
                grounded_fields=data["grounded_fields"],
            )
            return
        created = widget_type_create(author=request.user, **data)
        obj.pk, obj.created, obj.updated = created.pk, created.created, created.updated

    def change_view(self, request, object_id, form_url="", extra_context=None):
        widget = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if widget is not None:
            extra_context["versions"] = widget.versions.select_related("author").order_by(
                "-version"
            )
            extra_context["new_version_url"] = (
                reverse("admin:widgets_widgetschemaversion_add") + f"?widget={widget.pk}"
            )
            active = widget.versions.filter(is_active=True).first()
            if active is not None:
                extra_context["active_preview"] = version_preview(
                    widget_name=widget.name, **_content(active)
                )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(WidgetSchemaVersion)
class WidgetSchemaVersionAdmin(admin.ModelAdmin):
    list_display = ["widget", "version", "is_active", "author", "created"]
    list_filter = ["is_active", "widget"]
    list_select_related = ["widget", "author"]
    form = WidgetVersionCreateForm
    change_form_template = "admin/widgets/widgetschemaversion/change_form.html"

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # stored messages point at the version that parsed them

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["widget", "json_schema", "card_template", "examples", "activate"]
        return [
            "widget",
            "version",
            "is_active",
            "author",
            "created",
            "json_schema",
            "card_template",
            "examples",
        ]

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        widget_id = request.GET.get("widget")
        active = WidgetSchemaVersion.objects.filter(widget_id=widget_id, is_active=True).first()
        if active is not None:
            initial.update(
                json_schema=active.json_schema,
                card_template=active.card_template,
                examples=active.examples,
            )
        return initial

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        version = widget_version_create(
            widget=data["widget"],
            json_schema=data["json_schema"],
            card_template=data["card_template"],
            examples=data["examples"],
            author=request.user,
            activate=data["activate"],
        )
        obj.pk, obj.version, obj.created = version.pk, version.version, version.created

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["preview_url"] = reverse("admin:widgets_widgetschemaversion_preview")
        if object_id is not None:
            version = self.get_object(request, object_id)
            if version is None:
                raise Http404
            active = version.widget.versions.filter(is_active=True).exclude(pk=version.pk).first()
            extra_context.update(
                version=version,
                preview=version_preview(widget_name=version.widget.name, **_content(version)),
                diff=content_diff(_content(active), _content(version)),
                diff_base=active,
                activate_url=reverse(
                    "admin:widgets_widgetschemaversion_activate", args=[version.pk]
                ),
            )
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="widgets_widgetschemaversion_preview",
            ),
            path(
                "<int:pk>/activate/",
                self.admin_site.admin_view(self.activate_view),
                name="widgets_widgetschemaversion_activate",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        """Live preview while staff type: a card per example, errors, diff to the active version."""
        if request.method != "POST" or not self.has_add_permission(request):
            return JsonResponse({"error": "POST as staff with add permission"}, status=405)
        fields = {}
        for name in ("json_schema", "examples"):
            try:
                fields[name] = load_json_strict(request.POST.get(name, ""))
            except json.JSONDecodeError as exc:
                return JsonResponse(
                    {"errors": {name: [f"not valid JSON: {exc}"]}, "cards": [], "diff": []}
                )
        fields["card_template"] = request.POST.get("card_template", "")
        widget = WidgetType.objects.filter(pk=request.POST.get("widget") or None).first()
        preview = version_preview(widget_name=widget.name if widget else "widget", **fields)
        active = widget.versions.filter(is_active=True).first() if widget else None
        diff = content_diff(_content(active), fields) if active else []
        return JsonResponse(
            {
                "errors": preview.errors,
                "cards": [str(card) for card in preview.cards],
                "diff": [{"field": d.field, "lines": d.lines} for d in diff if d.changed],
                "diff_base": f"v{active.version}" if active else None,
            }
        )

    @staticmethod
    def _activate(request, pk):
        version = get_object_or_404(WidgetSchemaVersion, pk=pk)
        try:
            widget_version_activate(version=version)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, format_html("{} is now active.", version))
        return HttpResponseRedirect(reverse("admin:widgets_widgetschemaversion_change", args=[pk]))

    def activate_view(self, request, pk):
        if not request.user.has_perm("widgets.change_widgettype"):
            raise Http404
        return require_POST(self._activate)(request, pk)
