"""Conversations and their messages, with what it takes to replay, evaluate or train on a turn."""

from django.conf import settings
from django.db import models

from widgets.fields import OrderedJSONField


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated", "-id"]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        DONE = "done"
        PARTIAL = "partial"  # stopped short (`error` says why); the text so far is kept
        FAILED = "failed"  # nothing was written; `error` says why

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    raw = models.TextField(blank=True, help_text="Exactly what the user or the model wrote.")
    context = OrderedJSONField(default=dict, help_text="CRM records retrieved for this turn.")
    model_name = models.CharField(max_length=120, blank=True, help_text='"base" or an adapter.')
    manual_prompt = models.BooleanField(
        default=True, help_text="Whether the system prompt carried the widget manual."
    )
    widget_versions = OrderedJSONField(
        default=dict, help_text="Widget name -> version parsed with."
    )
    blocks = OrderedJSONField(default=list, help_text="Per widget block: type, outcome, errors.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DONE)
    error = models.TextField(blank=True)
    is_current = models.BooleanField(default=True, help_text="False once regenerated.")
    generation_started = models.DateTimeField(null=True, blank=True)
    latency_s = models.FloatField(null=True, blank=True)
    first_token_s = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk}"


class Feedback(models.Model):
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    rating = models.SmallIntegerField(choices=[(1, "up"), (-1, "down")])
    comment = models.TextField(blank=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{'+' if self.rating > 0 else '-'}1 on #{self.message_id}"


class Correction(models.Model):
    """A better answer written by a person; the original stays on the message.

    Any user may write one, so it trains only once staff accepted it (`review`).
    """

    class Review(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="corrections")
    raw = models.TextField()
    widget_versions = OrderedJSONField(default=dict)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    training_candidate = models.BooleanField(default=True)
    review = models.CharField(
        max_length=16,
        choices=Review.choices,
        default=Review.PENDING,
        help_text="Only accepted corrections become training rows.",
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"correction of #{self.message_id}"


class ActionRun(models.Model):
    """An action_request card the user confirmed or cancelled, and what happened."""

    class Status(models.TextChoices):
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="action_runs")
    block_index = models.PositiveIntegerField()
    action = models.CharField(max_length=40)
    params = OrderedJSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices)
    outcome = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "block_index"], name="one_run_per_action_card"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.status}"
