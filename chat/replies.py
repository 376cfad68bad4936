"""Generate one assistant reply: prompt, backend stream, parser and renderer, stored as it goes.

`reply_events` is plain synchronous code (the backend and the ORM are blocking); the SSE view
runs it in a worker thread and forwards its events. Every event is a small JSON-able dict:
  {"event": "ops", "seq": n, "ops": [{"segment", "kind", "html"}...]}  replace/append
      segments; seq counts the model deltas consumed so far
  {"event": "done", "html": ..., "status": ..., "message": ..., "blocks": [...]}
      status "done", or "partial" (cut off: `message` says why, the text so far is kept)
  {"event": "error", "status": "failed", "message": ..., "html": ...}  nothing was written

Whatever breaks after a stream claims its reply (the backend, the database, the renderer,
storing the end itself), the reply ends in a stored state with the reason: a reply left
"streaming" would answer every later request with "being written in another window" until
it went stale.
"""

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from django.utils.html import linebreaks

from chat.models import Message
from chat.selectors import turns_before
from chat.services import reply_fail, reply_finish
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

logger = logging.getLogger(__name__)

SAVE_EVERY_S = 1.0  # partial text is saved this often, so a reload mid-stream shows progress


STALE_AFTER = timedelta(minutes=10)  # a claimed reply this old died with its process
# A reply's end is tried again this long while the database turns it away for now (a lock
# held elsewhere: SQLite gives up on one after 5 s); the stream's last event waits meanwhile.
STORE_RETRY_S = 30.0


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


def reply_html(reply: Message) -> str:
    """The finished reply as the page shows it. Should the renderer fail on it, its text is
    shown escaped rather than the whole conversation failing to load."""
    try:
        return render_message(reply.raw, registry_at(reply.widget_versions))
    except Exception:
        logger.exception("reply %s could not be rendered", reply.pk)
        return linebreaks(reply.raw, autoescape=True)


def finished_event(reply: Message) -> dict:
    return {
        "event": "done" if reply.status != Message.Status.FAILED else "error",
        "status": reply.status,
        "message": reply.error,
        "html": reply_html(reply),
        "blocks": reply.blocks,
    }


@dataclass
class _Generation:
    """What a generation has so far, kept outside the pipeline so that its end can be
    stored whatever broke the pipeline."""

    reply_id: int
    started: float = field(default_factory=time.monotonic)
    parts: list[str] = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    completed: bool = False  # the backend sent its Completion: the stream ran to its end
    error: str = ""  # the first reason it stopped short; "" when it did not
    renderer: StreamRenderer | None = None
    validators: object = None  # the reply's registry's validators, once known

    def broke(self, exc: Exception) -> None:
        logger.error("reply %s broke off", self.reply_id, exc_info=exc)
        # The exception's text may hold internals (SQL, paths); its name is enough here,
        # and the log has the rest.
        self.error = self.error or f"The reply broke off: a server error ({type(exc).__name__})."

    def ops_event(self, ops) -> dict:
        # seq: how many deltas the page has seen; lets a client measure lag.
        return {"event": "ops", "seq": len(self.parts), "ops": [op.__dict__ for op in ops]}


def _generate(reply: Message, generation: _Generation, cancel: threading.Event) -> Iterator[dict]:
    registry = registry_at(reply.widget_versions)
    generation.validators = registry.validators
    generation.renderer = StreamRenderer(registry)
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
    ensure_loaded(reply.model_name or BASE_MODEL)  # after a restart, or another process
    stream = backend.stream(
        messages,
        model=reply.model_name or BASE_MODEL,
        sampling=Sampling(max_tokens=settings.WEFT_CHAT_MAX_TOKENS),
        constraint=constraint,
        cancel=cancel,
    )
    last_save = time.monotonic()
    for item in stream:
        if isinstance(item, TextDelta):
            generation.parts.append(item.text)
            if ops := generation.renderer.feed(item.text):
                yield generation.ops_event(ops)
            if time.monotonic() - last_save > SAVE_EVERY_S:
                Message.objects.filter(pk=reply.pk).update(raw="".join(generation.parts))
                last_save = time.monotonic()
        elif isinstance(item, Completion):
            generation.completed = True
            generation.usage = {
                "latency_s": item.seconds,
                "first_token_s": item.first_token_seconds,
                "prompt_tokens": item.prompt_tokens,
                "completion_tokens": item.completion_tokens,
            }
            if item.finish_reason == "cancelled":
                generation.error = "Stopped before the end."


def _finish(reply: Message, generation: _Generation) -> tuple[list, bool]:
    """Store how the reply ended, and return the renderer's last ops and whether that end
    was stored; never raises. When it cannot be stored, a last resort marks it failed."""
    ops = []
    if generation.renderer is not None:
        try:
            ops = generation.renderer.close()
        except Exception as exc:
            generation.broke(exc)
    if not generation.completed and not generation.error:
        generation.error = "Stopped before the end."  # the stream ended without its Completion
    raw = "".join(generation.parts)
    blocks = []
    if generation.validators is not None:
        try:
            blocks = _blocks(raw, generation.validators)
        except Exception as exc:
            generation.broke(exc)
    generation.usage.setdefault("latency_s", time.monotonic() - generation.started)
    try:
        _store_end(reply, raw=raw, blocks=blocks, usage=generation.usage, error=generation.error)
        return ops, True
    except Exception as exc:
        logger.exception("reply %s: its end could not be stored", reply.pk)
        error = f"This reply could not be saved: a server error ({type(exc).__name__})."
    try:
        reply_fail(reply=reply, error=error)
    except Exception:
        # Nothing more to do without a database; _fail_if_stale ends it after STALE_AFTER.
        logger.exception("reply %s: not even its failure could be stored", reply.pk)
        reply.status, reply.error = Message.Status.FAILED, error
    return [], False


def _store_end(reply: Message, **end) -> None:
    """reply_finish, tried again while the database is unavailable for now, up to
    STORE_RETRY_S: given up at once, the text would be lost and the reply left "streaming"
    (reply_fail meets the same lock) until it went stale."""
    deadline = time.monotonic() + STORE_RETRY_S
    while True:
        try:
            reply_finish(reply=reply, **end)
            return
        except OperationalError:
            if time.monotonic() >= deadline:
                raise
            logger.warning("reply %s: its end could not be stored yet", reply.pk, exc_info=True)
            time.sleep(1.0)


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
    generation = _Generation(reply_id=reply.pk)
    try:
        yield from _generate(reply, generation, cancel)
    except BackendError as exc:
        generation.error = exc.message
    except Exception as exc:
        generation.broke(exc)
    finally:
        # Also when the consumer goes away mid-stream (GeneratorExit at a yield).
        ops, stored = _finish(reply, generation)
    if ops:
        yield generation.ops_event(ops)
    if not stored:
        event = {"status": reply.status, "message": reply.error, "html": "", "blocks": []}
        yield {"event": "error", **event}
        return
    yield finished_event(reply)
