from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.models import Correction
from finetune.datasets import _NAME, NAME_RULE, validate_dataset_name
from finetune.models import Adapter, Dataset, FinetuneJob
from finetune.training.config import TARGET_MODULE_NAMES
from serving.vllm_server import MAX_LORA_RANK
from widgets.api_fields import (
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictPrimaryKeyRelatedField,
    StrictRegexField,
    text_field,
)


# validate_dataset_name is the check; the schema states its pattern for API clients.
@extend_schema_field({"type": "string", "maxLength": 80, "pattern": f"^{_NAME.pattern}$"})
class DatasetNameField(StrictCharField):
    pass


def dataset_name_field() -> serializers.CharField:
    return DatasetNameField(
        max_length=80, validators=[validate_dataset_name], help_text=f"{NAME_RULE}."
    )


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


@extend_schema_field(OpenApiTypes.BINARY)  # a file part: spectacular would say `uri`
class UploadField(serializers.FileField):
    pass


class DatasetImportSerializer(serializers.Serializer):
    name = dataset_name_field()
    file = UploadField(
        help_text="JSONL, one conversation per line (datasets.md); at most "
        "WEFT_DATASET_MAX_BYTES and WEFT_DATASET_MAX_LINES. A given `meta.id` is 1 to 120 of "
        "A-Z a-z 0-9 . _ : -, starting with a letter or digit."
    )
    exclude_invalid = serializers.BooleanField(
        default=False, help_text="Store the valid rows and record the invalid ones."
    )


class DatasetBuildSerializer(serializers.Serializer):
    name = dataset_name_field()
    feedback = StrictChoiceField(choices=["up", "corrected", "any"], default="any")
    widget_types = serializers.ListField(child=text_field(), required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    model = text_field(required=False)
    exclude_invalid = StrictBooleanField(default=False)


class JobSerializer(serializers.ModelSerializer):
    config = serializers.JSONField(read_only=True)
    history = serializers.JSONField(read_only=True)
    dataset = serializers.StringRelatedField()
    adapter = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = FinetuneJob
        fields = ["id", "name", "dataset", "config", "status", "error", "cancel_requested",
                  "step", "total_steps", "loss", "eval_loss", "tokens_per_s", "eta_s", "history",
                  "attempts", "created", "started", "finished", "adapter"]  # fmt: skip
        read_only_fields = fields


def _integer(low: int, high: int | None = None, *, nullable: bool = False) -> dict:
    bounds = {"minimum": low} | ({"maximum": high} if high is not None else {})
    return {"type": "integer", **bounds} | ({"nullable": True} if nullable else {})


def _number(low: float, *, above: bool = False, high: float | None = None, below: bool = False):
    schema = {"type": "number", "minimum": low} | ({"exclusiveMinimum": True} if above else {})
    if high is not None:
        schema |= {"maximum": high} | ({"exclusiveMaximum": True} if below else {})
    return schema


# What finetune.training.config accepts (TrainConfig.from_dict, then _field_problems), for
# clients and the API fuzz test; the service stays the one check. Every key may be left out.
TRAIN_CONFIG_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "Hyper-parameters; one left out takes its default (training/config.py).",
    "properties": {
        "rank": _integer(1, MAX_LORA_RANK),
        "alpha": _number(0, above=True),
        "dropout": _number(0, high=1, below=True),
        "target_modules": {
            "oneOf": [
                {"type": "string", "enum": ["all-linear"]},
                {"type": "array", "minItems": 1,
                 "items": {"type": "string", "enum": sorted(TARGET_MODULE_NAMES)}},
            ]
        },
        "learning_rate": _number(0, above=True, high=0.1),
        "warmup_ratio": _number(0, high=1, below=True),
        "lr_schedule": {"type": "string", "enum": ["cosine", "constant"]},
        "weight_decay": _number(0),
        "max_grad_norm": _number(0, above=True),
        "epochs": _integer(1, 100),
        "max_steps": _integer(1, nullable=True),
        "batch_rows": _integer(1, 1024),
        "max_seq_len": _integer(16, 8192),
        "seed": _integer(0),
        "manual_prompt": {"type": "boolean"},
        "checkpoint_every": _integer(1),
        "eval_every": _integer(0),
        "bf16": {"type": "boolean", "nullable": True},
        "detach_prompt": {"type": "boolean"},
        "workers": _integer(1, 64, nullable=True),
        "torch_threads": _integer(1, 256, nullable=True),
    },
}  # fmt: skip


@extend_schema_field(TRAIN_CONFIG_SCHEMA)
class TrainConfigField(serializers.JSONField):
    """Any JSON on input: finetune_job_start checks it and names every bad setting."""


class JobCreateSerializer(serializers.Serializer):
    dataset = StrictPrimaryKeyRelatedField(queryset=Dataset.objects.all())
    name = StrictRegexField(
        r"^[A-Za-z0-9_-]{1,60}$", max_length=60, help_text="Letters, digits, - and _."
    )
    config = TrainConfigField(required=False, default=dict)


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
    reason = StrictCharField(required=False, allow_blank=True, default="")
    override_reason = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Promote although the evaluation gate did not pass, and why (staff only).",
    )


class RollbackSerializer(serializers.Serializer):
    serving = serializers.CharField(help_text='The adapter served now, or "base".')


class CorrectionReviewItemSerializer(serializers.ModelSerializer):
    """A correction as a reviewer sees it: the question, the answer it replaces, and itself."""

    message = serializers.IntegerField(source="message_id", read_only=True)
    question = serializers.SerializerMethodField()
    original = serializers.CharField(source="message.raw", read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reviewed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Correction
        fields = ["id", "message", "question", "original", "raw", "author", "created", "review",
                  "reviewed_by", "reviewed_at"]  # fmt: skip
        read_only_fields = fields

    def get_question(self, correction) -> str:
        return correction.question


class CorrectionReviewSerializer(serializers.Serializer):
    decision = StrictChoiceField(
        choices=["accept", "reject"], help_text="accept: the correction becomes a training row."
    )
