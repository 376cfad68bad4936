"""Writes to conversations: messages, replies' bookkeeping, feedback, corrections, actions."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.models import ActionRun, Conversation, Correction, Feedback, Message
from domains.calls import run_action, turn_context
from domains.protocol import ActionRefused, DomainUnavailable
from serving.served import may_pick, models_for, prompt_form_for, served_model
from widgets.markup import Outcome, widget_segments
from widgets.selectors import active_registry, registry_at, version_numbers

MAX_USER_MESSAGE = 4_000


class ChatError(Exception):
    """A request the chat refuses; `field` names what to fix, the message says how."""

    def __init__(self, message: str, *, field: str = "non_field_errors", code: str = "invalid"):
        super().__init__(message)
        self.field = field
        self.code = code


def conversation_create(*, owner, title: str = "") -> Conversation:
    return Conversation.objects.create(owner=owner, title=title.strip()[:200])


def _history_texts(conversation: Conversation, *, before: Message | None = None) -> tuple[str, ...]:
    messages = conversation.messages.filter(is_current=True).exclude(status=Message.Status.FAILED)
    if before is not None:
        messages = messages.filter(pk__lt=before.pk)
    return tuple(messages.values_list("raw", flat=True))


def _reply_create(*, conversation: Conversation, question: str, history, model_name: str):
    """A reply to `question`, streaming; or failed with the domain's message when its records
    could not be had (nothing is generated from a turn without its records)."""
    fields = {"status": Message.Status.STREAMING, "context": {}}
    try:
        fields["context"] = turn_context(
            question=question, history=history, user=conversation.owner
        )
    except DomainUnavailable as exc:
        fields.update(status=Message.Status.FAILED, error=str(exc))
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        model_name=model_name,
        manual_prompt=prompt_form_for(model_name),
        widget_versions=version_numbers(),
        **fields,
    )


def _pickable(name: str, *, user) -> str:
    """`name`, if `user` may have that model answer (serving.served.may_pick: staff any
    registered model, everyone the served one, the base model and adapters staff made
    selectable); otherwise refused, naming what they may pick."""
    staff = bool(user.is_active and user.is_staff)
    if may_pick(name, staff=staff):
        return name
    choices = ", ".join(m.name for m in models_for(staff=staff))
    raise ChatError(
        f"{name!r} is not a model you can pick; pick one of: {choices}.",
        field="model",
        code="not_allowed",
    )


@transaction.atomic
def chat_message_create(
    *,
    conversation: Conversation,
    text: str,
    model_name: str | None = None,
) -> tuple[Message, Message]:
    """The user's message and the assistant reply it starts (streaming, not generated yet).

    The reply's context comes from the domain now and is stored, so the turn can be replayed
    exactly; when the domain fails, the reply is stored failed with its message and the
    user's message is kept. With no model named, the promoted adapter (or the base model)
    answers; an adapter gets the prompt form it was trained with. A model the conversation's
    owner may not pick is refused (_pickable).
    """
    model_name = _pickable(model_name or served_model().name, user=conversation.owner)
    text = (text or "").strip()
    if not text:
        raise ChatError("Write a message first.", field="text", code="empty")
    if len(text) > MAX_USER_MESSAGE:
        raise ChatError(f"Keep a message under {MAX_USER_MESSAGE} characters.", field="text")
    history = _history_texts(conversation)
    user_message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, raw=text
    )
    reply = _reply_create(
        conversation=conversation, question=text, history=history, model_name=model_name
    )
    if not conversation.title:
        conversation.title = text[:80]
    conversation.save(update_fields=["title", "updated"])
    return user_message, reply


@transaction.atomic
def chat_reply_regenerate(*, reply: Message, model_name: str | None = None) -> Message:
    """A new reply to the same user message; the old one stays, marked not current."""
    if reply.role != Message.Role.ASSISTANT or not reply.is_current:
        raise ChatError("Only the current reply can be regenerated.")
    if reply.status == Message.Status.STREAMING:
        raise ChatError("This reply is still being written; stop it first.")
    model_name = model_name or reply.model_name or served_model().name
    # Also the model of the reply it replaces: staff may have withdrawn it since.
    model_name = _pickable(model_name, user=reply.conversation.owner)
    reply.is_current = False
    reply.save(update_fields=["is_current"])
    if reply.status == Message.Status.FAILED and reply.generation_started is None:
        # Its records never came: ask the domain again rather than answer without them.
        question = reply.conversation.messages.filter(
            role=Message.Role.USER, pk__lt=reply.pk
        ).last()
        return _reply_create(
            conversation=reply.conversation,
            question=question.raw if question else "",
            history=_history_texts(reply.conversation, before=question),
            model_name=model_name,
        )
    return Message.objects.create(
        conversation=reply.conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        context=reply.context,
        model_name=model_name,
        manual_prompt=prompt_form_for(model_name),
        widget_versions=version_numbers(),
    )


def feedback_set(*, message: Message, rating: int, comment: str = "") -> Feedback:
    if message.role != Message.Role.ASSISTANT:
        raise ChatError("Feedback is for the assistant's answers.")
    if rating not in (1, -1):
        raise ChatError("rating is 1 (thumbs up) or -1 (thumbs down)", field="rating")
    feedback, _ = Feedback.objects.update_or_create(
        message=message, defaults={"rating": rating, "comment": (comment or "").strip()[:2000]}
    )
    return feedback


def correction_problems(raw: str) -> list[str]:
    """Why `raw` cannot stand as a corrected answer: every widget must be valid."""
    problems = []
    for index, segment in enumerate(widget_segments(raw, active_registry().validators)):
        if segment.outcome is not Outcome.VALID:
            where = f"widget {index + 1} ({segment.type})"
            details = "; ".join(f"{e.pointer or '/'}: {e.message}" for e in segment.errors[:5])
            problems.append(f"{where} is {segment.outcome}" + (f": {details}" if details else ""))
    return problems


def correction_create(*, message: Message, raw: str, author) -> Correction:
    """A pending correction: it trains only once staff accept it (correction_review)."""
    if message.role != Message.Role.ASSISTANT:
        raise ChatError("Only the assistant's answers can be corrected.")
    # A reply that never finished is no answer to correct: what the model would have said is
    # unknown, and such replies never become training rows (finetune/conversation_rows.py).
    if message.status == Message.Status.STREAMING:
        raise ChatError(
            "This reply is still being written; correct it once it is finished.",
            code="not_finished",
        )
    if message.status != Message.Status.DONE or message.error:
        raise ChatError(
            "This reply ended with an error; regenerate it and correct the new answer.",
            code="not_finished",
        )
    raw = (raw or "").strip()
    if not raw:
        raise ChatError("A correction cannot be empty.", field="raw")
    if raw == message.raw.strip():
        raise ChatError("The correction is the same as the answer.", field="raw")
    if problems := correction_problems(raw):
        raise ChatError(" | ".join(problems), field="raw", code="invalid_widgets")
    return Correction.objects.create(
        message=message, raw=raw, author=author, widget_versions=version_numbers()
    )


def correction_review(*, correction: Correction, accept: bool, reviewer) -> Correction:
    """Staff accept a correction (it becomes a training row) or reject it. A later review
    replaces an earlier one."""
    if not (reviewer and reviewer.is_active and reviewer.is_staff):
        raise ChatError("Only staff review corrections.", code="forbidden")
    correction.review = Correction.Review.ACCEPTED if accept else Correction.Review.REJECTED
    correction.reviewed_by = reviewer
    correction.reviewed_at = timezone.now()
    correction.save(update_fields=["review", "reviewed_by", "reviewed_at"])
    return correction


def action_decide(*, message: Message, block_index: int, confirm: bool, user) -> ActionRun:
    """Run (or cancel) the action card `block_index` of `message`, once, through the domain."""
    registry = registry_at(message.widget_versions)
    blocks = widget_segments(message.raw, registry.validators)
    if not 0 <= block_index < len(blocks) or not registry.is_action(blocks[block_index].type):
        raise ChatError("There is no action card at that place in the message.", code="not_found")
    block = blocks[block_index]
    if block.outcome is not Outcome.VALID:
        raise ChatError("That action card is not valid, so it cannot run.")
    if ActionRun.objects.filter(message=message, block_index=block_index).exists():
        raise ChatError("That action was already decided.", code="already_decided")
    action, params = block.payload["action"], block.payload["params"]
    if not confirm:
        status, outcome = ActionRun.Status.CANCELLED, "Cancelled; nothing was changed."
    else:
        try:
            status, outcome = (
                ActionRun.Status.DONE,
                run_action(action=action, params=params, user=user),
            )
        except (ActionRefused, DomainUnavailable) as exc:
            status, outcome = ActionRun.Status.FAILED, str(exc)
    try:
        return ActionRun.objects.create(
            message=message, block_index=block_index, action=action, params=params,
            status=status, outcome=outcome, user=user,
        )  # fmt: skip
    except IntegrityError as exc:  # a double click that raced the check above
        raise ChatError("That action was already decided.", code="already_decided") from exc


def _ended(*, raw: str, error: str) -> str:
    if not error:
        return Message.Status.DONE
    # Cut off: what it wrote is kept and shown, with why it stopped; it never trains.
    return Message.Status.PARTIAL if raw else Message.Status.FAILED


@transaction.atomic
def reply_finish(
    *, reply: Message, raw: str, blocks: list, usage: dict, error: str = ""
) -> Message:
    """Store how a generation ended: done; partial (stopped short with `error`, the text so
    far kept); failed (`error`, nothing written). `reply` is updated to match."""
    fields = {"raw": raw, "blocks": blocks, "error": error, **usage}
    fields["status"] = _ended(raw=raw, error=error)
    Message.objects.filter(pk=reply.pk).update(**fields)
    Conversation.objects.filter(pk=reply.conversation_id).update(updated=timezone.now())
    for name, value in fields.items():
        setattr(reply, name, value)
    return reply


def reply_fail(*, reply: Message, error: str) -> Message:
    """The last resort when reply_finish could not store a reply's end: failed, with why, in
    the smallest update there is. Never over an end that was stored."""
    Message.objects.filter(pk=reply.pk, status=Message.Status.STREAMING).update(
        status=Message.Status.FAILED, error=error
    )
    reply.status, reply.error = Message.Status.FAILED, error
    return reply
