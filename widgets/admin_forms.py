import json

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.version_checks import VersionContentError, check_version_content

_CODE = forms.Textarea(attrs={"rows": 18, "cols": 100, "class": "weft-code", "spellcheck": "false"})


class PrettyJSONField(forms.JSONField):
    """Shows stored JSON indented, so staff can edit a schema line by line."""

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class VersionContentForm(forms.ModelForm):
    """Schema, template and examples of a new version, checked as the service will check them."""

    json_schema = PrettyJSONField(widget=_CODE, help_text="JSON Schema, draft 2020-12.")
    card_template = forms.CharField(
        widget=_CODE,
        required=False,
        strip=False,
        help_text="Django template; leave empty for a generated key/value card. Filters: "
        "money, number, label, when, safe_url, show, field, divided_by.",
    )
    examples = PrettyJSONField(widget=_CODE, help_text="A JSON list of example payloads.")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        from widgets.cards import default_card_template

        template = data.get("card_template") or ""
        if not template.strip() and isinstance(data.get("json_schema"), dict):
            template = default_card_template(data["json_schema"])
        try:
            check_version_content(
                json_schema=data.get("json_schema"),
                card_template=template,
                examples=data.get("examples"),
            )
        except VersionContentError as exc:
            raise ValidationError(
                {
                    field: [ValidationError(m, code="invalid_" + field) for m in msgs]
                    for field, msgs in exc.errors.items()
                }
            ) from exc
        return data


class WidgetTypeCreateForm(VersionContentForm):
    class Meta:
        model = WidgetType
        fields = ["name", "title", "description", "enabled"]


class WidgetVersionCreateForm(VersionContentForm):
    activate = forms.BooleanField(required=False, help_text="Make it the active version now.")

    class Meta:
        model = WidgetSchemaVersion
        fields = ["widget", "json_schema", "card_template", "examples"]
