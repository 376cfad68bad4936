from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from widgets.api_fields import (
    StrictBooleanField,
    StrictCharField,
    StrictRegexField,
    text_field,
)
from widgets.models import WIDGET_NAME_PATTERN, WidgetSchemaVersion, WidgetType


class WidgetVersionSerializer(serializers.ModelSerializer):
    # Null: the author's account was deleted, or the version came from a registry file.
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    json_schema = serializers.JSONField(read_only=True)
    examples = serializers.JSONField(read_only=True)

    class Meta:
        model = WidgetSchemaVersion
        fields = [
            "version",
            "is_active",
            "json_schema",
            "card_template",
            "examples",
            "author",
            "created",
        ]
        read_only_fields = fields


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class GroundedFieldsField(serializers.JSONField):
    """Any JSON on input: the registry's one check (widgets.grounding) judges its shape too."""


# Any JSON on input, as for grounded fields: the registry's check (widgets.version_checks)
# refuses what these schemas exclude, and more that no OpenAPI schema can say (a valid JSON
# Schema, examples that validate against it).
@extend_schema_field(
    {"type": "object", "additionalProperties": True, "description": "A JSON Schema (2020-12) "
     'for one widget\'s payload: `"type": "object"`, RE2-compatible patterns.'}
)  # fmt: skip
class WidgetSchemaField(serializers.JSONField):
    pass


@extend_schema_field(
    {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": True},
     "description": "Payloads that validate against `json_schema`."}
)  # fmt: skip
class WidgetExamplesField(serializers.JSONField):
    pass


class WidgetTypeSerializer(serializers.ModelSerializer):
    active_version = serializers.SerializerMethodField()
    grounded_fields = GroundedFieldsField(read_only=True)

    class Meta:
        model = WidgetType
        fields = [
            "name",
            "title",
            "description",
            "enabled",
            "is_action",
            "grounded_fields",
            "updated",
            "active_version",
        ]
        read_only_fields = fields

    def get_active_version(self, widget) -> WidgetVersionSerializer:
        active = next((v for v in widget.versions.all() if v.is_active), None)
        return WidgetVersionSerializer(active).data if active else None


class VersionContentSerializer(serializers.Serializer):
    json_schema = WidgetSchemaField()
    card_template = StrictCharField(
        allow_blank=True, required=False, default="", trim_whitespace=False
    )
    examples = WidgetExamplesField()


class WidgetTypeCreateSerializer(VersionContentSerializer):
    name = StrictRegexField(WIDGET_NAME_PATTERN, max_length=64)
    title = text_field(max_length=120)
    description = text_field()
    enabled = StrictBooleanField(default=True)
    # Absent: an action only if named action_request (widgets/actions.py).
    is_action = StrictBooleanField(required=False, allow_null=True, default=None)
    grounded_fields = GroundedFieldsField(default=list)


class WidgetTypeUpdateSerializer(serializers.Serializer):
    title = text_field(max_length=120, required=False)
    description = text_field(required=False)
    enabled = StrictBooleanField(required=False)
    is_action = StrictBooleanField(required=False)
    grounded_fields = GroundedFieldsField(required=False)


class WidgetVersionCreateSerializer(VersionContentSerializer):
    activate = StrictBooleanField(default=False)
