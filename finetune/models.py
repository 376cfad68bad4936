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
