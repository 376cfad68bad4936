"""Generate one assistant reply: prompt, backend stream, parser and renderer, stored as it goes.

`reply_events` is plain synchronous code (the backend and the ORM are blocking); the SSE view
runs it in a worker thread and forwards its events. Every event is a small JSON-able dict:
  {"event": "ops", "seq": n, "ops": [{"segment", "kind", "html"}...]}  replace/append
      segments; seq counts the model deltas consumed so far
  {"event": "done", "html": ..., "status": ..., "blocks": [...], "usage": {...}}
  {"event": "error", "message": ..., "html": ...}              the backend failed
"""

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from chat.models import Message
from chat.selectors import turns_before
from chat.services import reply_finish
from serving.backend import (
    BASE_MODEL,
    BackendError,
    ChatMessage,
    Completion,
    Sampling,
    TextDelta,
    get_backend,
)
from serving.constraints import widget_constraint
from serving.prompts import build_messages
from serving.registry_specs import active_widget_specs
from serving.served import ensure_loaded
from widgets.markup import widget_segments
from widgets.render import StreamRenderer, render_message
from widgets.selectors import registry_at

SAVE_EVERY_S = 1.0  # partial text is saved this often, so a reload mid-stream shows progress


STALE_AFTER = timedelta(minutes=10)  # a claimed reply this old died with its process


def _claim(reply: Message) -> bool:
    """Exactly one stream generates a reply; a second request only replays it."""
    return bool(
        Message.objects.filter(
            pk=reply.pk, status=Message.Status.STREAMING, generation_started__isnull=True
        ).update(generation_started=timezone.now())
    )


def _fail_if_stale(reply: Message) -> None:
    Message.objects.filter(
        pk=reply.pk,
        status=Message.Status.STREAMING,
        generation_started__lt=timezone.now() - STALE_AFTER,
    ).update(status=Message.Status.FAILED, error="The server stopped while writing this reply.")


def _blocks(raw: str, validators) -> list[dict]:
    return [
        {
            "type": s.type,
            "outcome": str(s.outcome),
            "errors": [{"pointer": e.pointer, "message": e.message} for e in s.errors],
        }
        for s in widget_segments(raw, validators)
    ]


def finished_event(reply: Message) -> dict:
    registry = registry_at(reply.widget_versions)
    return {
        "event": "done" if reply.status != Message.Status.FAILED else "error",
        "status": reply.status,
        "message": reply.error,
        "html": render_message(reply.raw, registry),
        "blocks": reply.blocks,
    }


def reply_events(reply_id: int, *, cancel: threading.Event) -> Iterator[dict]:
    reply = Message.objects.select_related("conversation").get(pk=reply_id)
    if not _claim(reply):
        _fail_if_stale(reply)
        reply.refresh_from_db()
        if reply.status == Message.Status.STREAMING:
            yield {"event": "error", "message": "This reply is being written in another window."}
            return
        yield finished_event(reply)
        return
    registry = registry_at(reply.widget_versions)
    specs = active_widget_specs()
    messages = build_messages(
        specs,
        [ChatMessage.from_dict(turn) for turn in turns_before(reply)],
        reply.context,
        manual=reply.manual_prompt,
    )
    backend = get_backend()
    constraint = (
        widget_constraint(specs, reply.context or {})
        if settings.WEFT_CHAT_CONSTRAINED and backend.supports_constraints
        else None
    )
    renderer = StreamRenderer(registry)
    parts: list[str] = []
    usage: dict = {}
    error = ""
    started = last_save = time.monotonic()
    try:
        ensure_loaded(reply.model_name or BASE_MODEL)  # after a restart, or another process
        stream = backend.stream(
            messages,
            model=reply.model_name or BASE_MODEL,
            sampling=Sampling(max_tokens=settings.WEFT_CHAT_MAX_TOKENS),
            constraint=constraint,
            cancel=cancel,
        )
        for item in stream:
            if isinstance(item, TextDelta):
                parts.append(item.text)
                if ops := renderer.feed(item.text):
                    # seq: how many deltas the page has seen; lets a client measure lag.
                    yield {"event": "ops", "seq": len(parts), "ops": [op.__dict__ for op in ops]}
                if time.monotonic() - last_save > SAVE_EVERY_S:
                    Message.objects.filter(pk=reply.pk).update(raw="".join(parts))
                    last_save = time.monotonic()
            elif isinstance(item, Completion):
                usage = {
                    "latency_s": item.seconds,
                    "first_token_s": item.first_token_seconds,
                    "prompt_tokens": item.prompt_tokens,
                    "completion_tokens": item.completion_tokens,
                }
                if item.finish_reason == "cancelled":
                    error = "Stopped before the end."
    except BackendError as exc:
        error = exc.message
    finally:
        ops = renderer.close()
        raw = "".join(parts)
        usage.setdefault("latency_s", time.monotonic() - started)
        reply_finish(
            reply=reply, raw=raw, blocks=_blocks(raw, registry.validators), usage=usage, error=error
        )
    if ops:
        yield {"event": "ops", "seq": len(parts), "ops": [op.__dict__ for op in ops]}
    reply.refresh_from_db()
    yield finished_event(reply)
