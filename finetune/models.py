"""Datasets of conversations, fine-tuning jobs, and the adapters they make."""

from django.conf import settings
from django.db import models

from widgets.fields import OrderedJSONField


class Dataset(models.Model):
    """A named, versioned set of rows (shared/spec/datasets.md). Frozen once a job used it."""

    name = models.CharField(max_length=80)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=40, help_text="conversations, import or demo")
    filters = OrderedJSONField(default=dict, help_text="How rows were chosen, for the record.")
    excluded = OrderedJSONField(default=list, help_text="Rows left out, each with its reasons.")
    frozen = models.BooleanField(
        default=False, help_text="Used by a job: a change is a new version."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="dataset_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class DatasetRow(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="rows")
    row_id = models.CharField(max_length=120, help_text="Stable id: the split is derived from it.")
    split = models.CharField(max_length=8, choices=[("train", "train"), ("eval", "eval")])
    messages = OrderedJSONField()
    context = OrderedJSONField(default=dict)
    meta = OrderedJSONField(default=dict)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["dataset", "position"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "row_id"], name="dataset_row_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.dataset} {self.row_id}"

    def as_line(self) -> dict:
        """The row as one line of datasets.md."""
        return {
            "messages": self.messages,
            "context": self.context,
            "meta": {**self.meta, "id": self.row_id, "split": self.split},
        }


class RunStatus(models.TextChoices):
    """Where a background run (a training job, an evaluation) stands."""

    QUEUED = "queued"
    # The broker refused it (down, unreachable): nothing will run it until someone retries.
    NOT_QUEUED = "not_queued", "Not queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FinetuneJob(models.Model):
    Status = RunStatus

    name = models.CharField(max_length=80, help_text="The adapter's name; versions are added.")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="jobs")
    config = OrderedJSONField(default=dict, help_text="Resolved training config.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    task_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The task message that runs it; an older message for it is stale and skipped.",
    )
    cancel_requested = models.BooleanField(default=False)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    history = OrderedJSONField(default=list, help_text="[{step, loss, eval_loss}] as it trains.")
    work_dir = models.CharField(max_length=400, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Runs started (resumes count).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"job {self.pk} {self.name} ({self.status})"

    @property
    def done(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)


class Adapter(models.Model):
    """A trained LoRA adapter under an immutable versioned name (e.g. demo-v2)."""

    name = models.CharField(max_length=120, unique=True)
    job = models.OneToOneField(
        FinetuneJob, null=True, on_delete=models.SET_NULL, related_name="adapter"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="adapters")
    row_ids = OrderedJSONField(default=list, help_text="Exactly the rows that trained it.")
    path = models.CharField(max_length=400)
    manual_prompt = models.BooleanField(help_text="Trained with the widget manual in the prompt.")
    metrics = OrderedJSONField(default=dict)
    config = OrderedJSONField(default=dict)
    selectable = models.BooleanField(
        default=False,
        help_text="Every chat user may pick it (staff may pick any adapter; the promoted one "
        "is everyone's default).",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.name


class EvalRun(models.Model):
    """One evaluation of a model on a dataset split: settings, progress, metrics and cases."""

    Status = RunStatus

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    task_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The task message that runs it; an older message for it is stale and skipped.",
    )
    model_name = models.CharField(max_length=120, help_text='"base" or an adapter\'s name.')
    adapter = models.ForeignKey(
        Adapter, null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_runs"
    )
    adapter_path = models.CharField(
        max_length=400, blank=True, help_text="An adapter folder that is not registered here."
    )
    backend = models.CharField(max_length=40, help_text="local or vllm (scripted in tests).")
    # Decoding settings, as finetune.evaluation.generation.EvalSettings takes them.
    manual_prompt = models.BooleanField(help_text="The prompt carried the widget manual.")
    constrained = models.BooleanField()
    max_tokens = models.PositiveIntegerField()
    temperature = models.FloatField(default=0.0)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="eval_runs"
    )
    source = models.CharField(max_length=400, help_text="The dataset version or the file.")
    split = models.CharField(max_length=8, help_text="train, eval or all")
    limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Only the first N rows: a smoke test, never gated on."
    )
    registry_versions = OrderedJSONField(
        default=dict, help_text="Widget name -> schema version active when it ran."
    )
    grounded_fields = OrderedJSONField(
        default=dict,
        help_text="Widget name -> the fields constrained decoding took from each row's records "
        "(serving.grounding); empty for free decoding.",
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    summary = OrderedJSONField(default=dict, help_text="finetune.evaluation.scoring.summarise()")
    cases = OrderedJSONField(default=list, help_text="Every scored case (case_record).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"eval {self.pk} {self.label} on {self.source} ({self.status})"

    @property
    def label(self) -> str:
        prompt = "manual" if self.manual_prompt else "short"
        decoding = "constrained" if self.constrained else "free"
        if self.constrained and not self.grounded_fields:
            decoding += ", ungrounded"
        return f"{self.model_name}, {prompt} prompt, {decoding}"

    @property
    def finished_running(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)


class Promotion(models.Model):
    """The log of what the chat serves: the latest row wins; rolling back adds a row."""

    adapter = models.ForeignKey(Adapter, null=True, blank=True, on_delete=models.PROTECT)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.TextField(blank=True)
    # The evaluation gate (finetune.adapters.promotion_gate); None: not gated (a rollback).
    gate_passed = models.BooleanField(null=True, blank=True)
    candidate_run = models.ForeignKey(
        EvalRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    baseline_run = models.ForeignKey(
        EvalRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    override_reason = models.TextField(blank=True, help_text="Why a failed gate was overridden.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.adapter or 'base'} at {self.created:%Y-%m-%d %H:%M}"
