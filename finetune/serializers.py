from rest_framework import serializers

from finetune.models import Adapter, Dataset, FinetuneJob


class DatasetSerializer(serializers.ModelSerializer):
    filters = serializers.JSONField(read_only=True)
    excluded = serializers.JSONField(read_only=True)
    rows = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "name", "version", "description", "source", "filters", "excluded",
                  "frozen", "created", "rows"]  # fmt: skip
        read_only_fields = fields

    def get_rows(self, dataset) -> dict:
        return {
            "train": dataset.rows.filter(split="train").count(),
            "eval": dataset.rows.filter(split="eval").count(),
        }


class DatasetImportSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_-]{1,80}$")
    file = serializers.FileField(help_text="JSONL, one conversation per line (datasets.md).")
    exclude_invalid = serializers.BooleanField(
        default=False, help_text="Store the valid rows and record the invalid ones."
    )


class DatasetBuildSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_-]{1,80}$")
    feedback = serializers.ChoiceField(choices=["up", "corrected", "any"], default="any")
    widget_types = serializers.ListField(child=serializers.CharField(), required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    model = serializers.CharField(required=False)
    exclude_invalid = serializers.BooleanField(default=False)


class JobSerializer(serializers.ModelSerializer):
    config = serializers.JSONField(read_only=True)
    history = serializers.JSONField(read_only=True)
    dataset = serializers.StringRelatedField()
    adapter = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = FinetuneJob
        fields = ["id", "name", "dataset", "config", "status", "error", "cancel_requested",
                  "step", "total_steps", "loss", "eval_loss", "tokens_per_s", "eta_s", "history",
                  "attempts", "created", "started", "finished", "adapter"]  # fmt: skip
        read_only_fields = fields


class JobCreateSerializer(serializers.Serializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
    name = serializers.CharField(max_length=60)
    config = serializers.JSONField(required=False, default=dict, help_text="Hyper-parameters.")


class AdapterSerializer(serializers.ModelSerializer):
    metrics = serializers.JSONField(read_only=True)
    config = serializers.JSONField(read_only=True)
    dataset = serializers.StringRelatedField()
    rows = serializers.SerializerMethodField()

    class Meta:
        model = Adapter
        fields = ["name", "dataset", "rows", "manual_prompt", "metrics", "config", "created"]
        read_only_fields = fields

    def get_rows(self, adapter) -> int:
        return len(adapter.row_ids)


class PromoteSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Promote although the evaluation gate did not pass, and why (staff only).",
    )
