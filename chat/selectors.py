"""Reads of conversations."""

from chat.models import Message


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
