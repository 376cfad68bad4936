import json

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from widgets.actions import validate_action_mark
from widgets.fields import StrictJSONFormField
from widgets.grounding import validate_grounded_fields
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.version_checks import VersionContentError, check_version_content

_CODE = forms.Textarea(attrs={"rows": 18, "cols": 100, "class": "weft-code", "spellcheck": "false"})


class PrettyJSONField(StrictJSONFormField):
    """Shows stored JSON indented, so staff can edit a schema line by line."""

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class GroundedFieldsField(forms.CharField):
    """Property names separated by commas: friendlier to type than a JSON list."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            help_text="Comma-separated property names, e.g. address, price, at any depth of the "
            "schema. Constrained decoding lets the model write, for each, only a value the "
            "turn's records hold under the same name. Leave out fields the model writes itself "
            "(titles, summaries); an enum field such as a status may be grounded.",
            **kwargs,
        )

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        # Repeats are kept, so the check can name them instead of silently dropping them.
        return [name.strip() for name in (value or "").split(",") if name.strip()]


def _check_action_mark(form: forms.ModelForm, json_schema) -> None:
    try:
        validate_action_mark(form.cleaned_data.get("is_action", False), json_schema=json_schema)
    except ValidationError as exc:
        for message in exc.messages:
            form.add_error("is_action", message)


def _check_grounded_fields(form: forms.ModelForm, json_schema) -> None:
    """Form-side use of the service's check, so a bad name shows on its field, not as a 500."""
    try:
        validate_grounded_fields(
            form.cleaned_data.get("grounded_fields", []), json_schema=json_schema
        )
    except ValidationError as exc:
        form.add_error(None, exc)


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
    grounded_fields = GroundedFieldsField()

    class Meta:
        model = WidgetType
        fields = ["name", "title", "description", "enabled", "is_action", "grounded_fields"]

    def clean(self):
        data = super().clean()
        if not self.errors:  # against a schema that is known to be valid
            _check_grounded_fields(self, data["json_schema"])
            _check_action_mark(self, data["json_schema"])
        return data


class WidgetTypeChangeForm(forms.ModelForm):
    grounded_fields = GroundedFieldsField()

    class Meta:
        model = WidgetType
        fields = ["title", "description", "enabled", "is_action", "grounded_fields"]

    def clean(self):
        data = super().clean()
        active = self.instance.versions.filter(is_active=True).first()
        _check_grounded_fields(self, active.json_schema if active else {})
        _check_action_mark(self, active.json_schema if active else {})
        return data


class WidgetVersionCreateForm(VersionContentForm):
    activate = forms.BooleanField(
        required=False,
        help_text="Make it the active version now; the widget type's grounded fields must be "
        "fields of its schema.",
    )

    class Meta:
        model = WidgetSchemaVersion
        fields = ["widget", "json_schema", "card_template", "examples"]

    def clean(self):
        data = super().clean()
        widget = data.get("widget")
        if not self.errors and data.get("activate") and widget is not None:
            try:
                validate_grounded_fields(widget.grounded_fields, json_schema=data["json_schema"])
            except ValidationError as exc:
                self.add_error(
                    "activate",
                    "cannot activate: the widget type's grounded fields do not fit this schema ("
                    + "; ".join(exc.messages)
                    + "). Save it without activating, or change the grounded fields first.",
                )
            try:
                validate_action_mark(widget.is_action, json_schema=data["json_schema"])
            except ValidationError as exc:
                self.add_error(
                    "activate",
                    f"cannot activate: {widget.name} is an action widget ("
                    + "; ".join(exc.messages)
                    + "). Save it without activating, or unmark it first.",
                )
        return data
