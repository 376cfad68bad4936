"""Reads of conversations."""

from collections import Counter, defaultdict
from datetime import timedelta

from django.utils import timezone

from chat.models import Message
from widgets.markup import Outcome

OUTCOMES = tuple(o.value for o in Outcome)


def turns_before(reply: Message) -> list[dict]:
    """The conversation as the model saw it before `reply`, in chat format.

    One definition for both the prompt a reply is generated from and the training row made
    from that reply: they must agree turn for turn.
    """
    earlier = (
        reply.conversation.messages.filter(is_current=True, created__lte=reply.created)
        .exclude(pk=reply.pk)
        .exclude(role=Message.Role.ASSISTANT, status=Message.Status.FAILED)
        .order_by("created", "id")
    )
    return [{"role": m.role, "content": m.raw} for m in earlier if m.raw]


def widget_outcome_shares_by_day(*, days: int = 30, now=None) -> list[dict]:
    """Production quality: per day and widget type, the outcomes of the blocks live replies
    had (valid, invalid, malformed, ...), as counts and shares, newest day first."""
    since = (now or timezone.now()) - timedelta(days=days)
    replies = (
        Message.objects.filter(role=Message.Role.ASSISTANT, created__gte=since)
        .exclude(status=Message.Status.STREAMING)  # its blocks are not parsed yet
        .only("created", "blocks")
    )
    counted: dict[tuple, Counter] = defaultdict(Counter)
    for reply in replies.iterator():
        day = timezone.localdate(reply.created)
        for block in reply.blocks or []:
            counted[(day, block.get("type", ""))][block.get("outcome", "")] += 1
    rows = []
    for (day, widget), outcomes in sorted(
        counted.items(), key=lambda i: (-i[0][0].toordinal(), i[0][1])
    ):
        total = sum(outcomes.values())
        rows.append(
            {
                "day": day,
                "widget": widget,
                "total": total,
                "counts": {o: outcomes[o] for o in OUTCOMES},
                "shares": {o: round(outcomes[o] / total, 4) for o in OUTCOMES},
            }
        )
    return rows
