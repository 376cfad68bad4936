"""Training rows from the chat: answers people accepted, and the corrections they wrote that
staff accepted. A reply that failed, or ended with an error, is never a row."""

from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from chat.models import Correction, Message
from chat.selectors import turns_before
from widgets.markup import widget_segments
from widgets.selectors import registry_validators

FEEDBACK_CHOICES = ("up", "corrected", "any")  # any = thumbs-up answers and corrections


def _widget_types(text: str, validators) -> set[str]:
    return {s.type for s in widget_segments(text, validators)}


def conversation_rows(
    *,
    feedback: str = "any",
    widget_types: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
) -> list[tuple[str, dict]]:
    """(where, line) for each chosen answer, in datasets.md form, oldest first."""
    if feedback not in FEEDBACK_CHOICES:
        raise ValueError(f"feedback is one of {FEEDBACK_CHOICES}")
    # Only finished replies with no error: a corrected row keeps the reply's context, and a
    # failed turn's context is not what the answer was written from.
    replies = Message.objects.filter(
        role=Message.Role.ASSISTANT, status=Message.Status.DONE, error=""
    ).select_related("conversation", "feedback")
    if since:
        replies = replies.filter(created__gte=since)
    if until:
        replies = replies.filter(created__lt=until)
    if model:
        replies = replies.filter(model_name=model)
    chosen: list[tuple[Message, str, dict]] = []
    if feedback in ("up", "any"):
        for reply in replies.filter(feedback__rating=1):
            chosen.append((reply, reply.raw, {"id": f"chat-{reply.pk}", "feedback": "up"}))
    if feedback in ("corrected", "any"):
        latest: dict[int, Correction] = {}
        corrections = Correction.objects.filter(
            training_candidate=True, review=Correction.Review.ACCEPTED, message__in=replies
        )
        for correction in corrections.order_by("created", "id"):
            latest[correction.message_id] = correction  # the newest correction wins
        replies_by_id = {r.pk: r for r in replies.filter(pk__in=latest)}
        for message_id, correction in latest.items():
            meta = {"id": f"chat-{message_id}-c{correction.pk}", "feedback": "corrected"}
            # A corrected answer replaces the thumbs-up row of the same reply, if any.
            chosen = [c for c in chosen if c[0].pk != message_id]
            chosen.append((replies_by_id[message_id], correction.raw, meta))
    validators = registry_validators()
    lines = []
    for reply, answer, meta in sorted(chosen, key=lambda c: (c[0].created, c[0].pk)):
        if widget_types and not (_widget_types(answer, validators) & set(widget_types)):
            continue
        line = {
            "messages": [*turns_before(reply), {"role": "assistant", "content": answer}],
            "context": reply.context,
            "meta": {**meta, "source": "chat", "message": reply.pk, "model": reply.model_name},
        }
        lines.append((f"message {reply.pk}", line))
    return lines


def corrections_for_review(*, review: str | None = Correction.Review.PENDING) -> QuerySet:
    """Corrections in `review` state (None: all), oldest first, each with `question`: the
    user's message it answers."""
    question = (
        Message.objects.filter(
            conversation=OuterRef("message__conversation"),
            role=Message.Role.USER,
            pk__lt=OuterRef("message_id"),
        )
        .order_by("-pk")
        .values("raw")[:1]
    )
    corrections = Correction.objects.select_related("message", "author", "reviewed_by")
    if review is not None:
        corrections = corrections.filter(review=review)
    return corrections.annotate(question=Subquery(question)).order_by("created", "id")
