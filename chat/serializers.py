from rest_framework import serializers

from chat.models import ActionRun, Conversation, Correction, Feedback, Message
from widgets.api_fields import StrictCharField, StrictChoiceField, text_field


class ConversationSerializer(serializers.ModelSerializer):
    title = StrictCharField(max_length=200, allow_blank=True, required=False)

    class Meta:
        model = Conversation
        fields = ["id", "title", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]


class FeedbackSerializer(serializers.ModelSerializer):
    rating = StrictChoiceField(choices=[(1, "up"), (-1, "down")])
    comment = StrictCharField(allow_blank=True, required=False)

    class Meta:
        model = Feedback
        fields = ["rating", "comment", "updated"]
        read_only_fields = ["updated"]


class CorrectionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Correction
        fields = ["id", "raw", "author", "training_candidate", "created"]
        read_only_fields = ["id", "author", "training_candidate", "created"]


class ActionRunSerializer(serializers.ModelSerializer):
    params = serializers.JSONField(read_only=True)

    class Meta:
        model = ActionRun
        fields = ["block_index", "action", "params", "status", "outcome", "created"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    context = serializers.JSONField(read_only=True)
    widget_versions = serializers.JSONField(read_only=True)
    blocks = serializers.JSONField(read_only=True)
    feedback = FeedbackSerializer(read_only=True, allow_null=True)
    corrections = CorrectionSerializer(many=True, read_only=True)
    action_runs = ActionRunSerializer(many=True, read_only=True)
    stream_url = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id", "role", "raw", "context", "model_name", "manual_prompt", "widget_versions",
            "blocks", "status", "error", "is_current", "latency_s", "first_token_s",
            "prompt_tokens", "completion_tokens", "created", "feedback", "corrections",
            "action_runs", "stream_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_stream_url(self, message) -> str | None:
        if message.role != Message.Role.ASSISTANT:
            return None
        return f"/api/messages/{message.pk}/stream/"


class MessageCreateSerializer(serializers.Serializer):
    text = text_field(max_length=4000)
    model = text_field(
        required=False,
        max_length=120,
        help_text="Default: the served (promoted) model. GET /api/models/ lists what you may pick.",
    )


class RegenerateSerializer(serializers.Serializer):
    model = text_field(
        required=False, max_length=120, help_text="Default: the model of the reply it replaces."
    )


class ModelChoiceSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["base", "adapter"])
    default = serializers.BooleanField(help_text="What answers when no model is named.")


class CorrectionCreateSerializer(serializers.Serializer):
    raw = StrictCharField(trim_whitespace=False, min_length=1, max_length=20_000)


class ActionDecisionSerializer(serializers.Serializer):
    decision = StrictChoiceField(choices=["confirm", "cancel"])
