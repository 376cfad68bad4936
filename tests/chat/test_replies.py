"""The reply pipeline with a scripted backend: prompt in, events out, message stored."""

import json
import threading

import pytest

from chat.models import Message
from chat.replies import reply_events
from serving.backend import BackendUnavailable
from serving.constraints import widget_constraint
from serving.prompts import CONTEXT_LABEL
from serving.registry_specs import active_widget_specs
from tests.chat.conftest import LISTING, block

pytestmark = pytest.mark.django_db


def run(reply, cancel=None):
    return list(reply_events(reply.pk, cancel=cancel or threading.Event()))


def test_reply_streams_ops_and_stores_everything(scripted, turn):
    user_message, reply = turn
    text = f"Two fit:\n{block(LISTING)}\n{block({**LISTING, 'price': 'x'})}\nWant a tour?"
    scripted.enqueue(text, chunk_size=7)
    events = run(reply)
    assert {e["event"] for e in events[:-1]} == {"ops"} and events[-1]["event"] == "done"
    kinds = [op["kind"] for e in events[:-1] for op in e["ops"]]
    assert "skeleton" in kinds and "card" in kinds and "prose" in kinds
    assert (
        'data-outcome="valid"' in events[-1]["html"]
        and 'data-outcome="invalid"' in events[-1]["html"]
    )
    reply.refresh_from_db()
    assert reply.status == "done" and reply.raw == text and reply.error == ""
    assert [b["outcome"] for b in reply.blocks] == ["valid", "invalid"]
    assert reply.blocks[1]["errors"][0]["pointer"] == "/price"
    assert reply.completion_tokens and reply.latency_s is not None
    (call,) = scripted.history
    assert call.messages[-1].content == user_message.raw
    assert CONTEXT_LABEL in call.messages[0].content and "Austin" in call.messages[0].content
    # Widgets the model opens are held to their schema, and their record fields to this
    # turn's records: the grammar takes exactly the listings retrieved, and no contact card.
    assert call.constraint == widget_constraint(active_widget_specs(), reply.context)
    tags = json.loads(call.constraint.structural_tag)["format"]["tags"]
    listing = next(t for t in tags if t["begin"] == '<widget type="listing_card">')
    assert listing["content"]["json_schema"]["properties"]["mls_id"]["enum"] == [
        x["mls_id"] for x in reply.context["listings"]
    ]
    assert '<widget type="contact_card">' not in {t["begin"] for t in tags}


def test_context_is_retrieved_once_and_stored_with_the_reply(turn):
    _, reply = turn
    assert set(reply.context) == {"listings"}
    assert all(x["city"] == "Austin" and x["beds"] == 3 for x in reply.context["listings"])
    assert reply.widget_versions["listing_card"] == 1


def test_backend_failure_keeps_the_user_message_and_says_why(scripted, turn):
    user_message, reply = turn
    scripted.enqueue_error(BackendUnavailable("The model server is down: connection refused."))
    events = run(reply)
    assert events[-1] == {
        "event": "error",
        "status": "failed",
        "message": "The model server is down: connection refused.",
        "html": "",
        "blocks": [],
    }
    reply.refresh_from_db()
    assert reply.status == "failed" and "server is down" in reply.error
    assert Message.objects.filter(pk=user_message.pk).exists()


def test_cancel_stops_and_keeps_what_was_written(scripted, turn):
    _, reply = turn
    scripted.enqueue("word " * 200, chunk_size=5)
    cancel = threading.Event()
    stream = reply_events(reply.pk, cancel=cancel)
    next(stream)
    cancel.set()
    rest = list(stream)
    assert rest[-1]["event"] == "done"
    reply.refresh_from_db()
    assert reply.error == "Stopped before the end." and 0 < len(reply.raw) < len("word " * 200)


def test_second_request_replays_instead_of_generating_again(scripted, turn):
    _, reply = turn
    scripted.enqueue("Hello there.")
    first = run(reply)
    again = run(reply)
    assert again == [first[-1]] and len(scripted.history) == 1


def test_history_goes_into_the_next_prompt(scripted, conversation):
    from chat.services import chat_message_create

    _, first = chat_message_create(conversation=conversation, text="hi")
    scripted.enqueue("Hello! How can I help?")
    run(first)
    _, second = chat_message_create(conversation=conversation, text="anything in Dallas?")
    scripted.enqueue("Let me look.")
    run(second)
    roles = [(m.role, m.content) for m in scripted.history[-1].messages[1:]]
    assert roles == [
        ("user", "hi"),
        ("assistant", "Hello! How can I help?"),
        ("user", "anything in Dallas?"),
    ]
