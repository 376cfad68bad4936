from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from widgets.models import WIDGET_NAME_PATTERN, WidgetSchemaVersion, WidgetType


class WidgetVersionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
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
    json_schema = serializers.JSONField()
    card_template = serializers.CharField(
        allow_blank=True, required=False, default="", trim_whitespace=False
    )
    examples = serializers.JSONField()


class WidgetTypeCreateSerializer(VersionContentSerializer):
    name = serializers.RegexField(WIDGET_NAME_PATTERN, max_length=64)
    title = serializers.CharField(max_length=120)
    description = serializers.CharField()
    enabled = serializers.BooleanField(default=True)
    # Absent: an action only if named action_request (widgets/actions.py).
    is_action = serializers.BooleanField(required=False, allow_null=True, default=None)
    grounded_fields = GroundedFieldsField(default=list)


class WidgetTypeUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False)
    enabled = serializers.BooleanField(required=False)
    is_action = serializers.BooleanField(required=False)
    grounded_fields = GroundedFieldsField(required=False)


class WidgetVersionCreateSerializer(VersionContentSerializer):
    activate = serializers.BooleanField(default=False)
