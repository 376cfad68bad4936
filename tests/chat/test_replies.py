"""The reply pipeline with a scripted backend: prompt in, events out, message stored."""

import json
import threading

import pytest
from django.contrib.auth import get_user_model

from chat.models import Message
from chat.replies import reply_events
from chat.services import chat_message_create, conversation_create
from demo.services import ACTIONS, crm_actions_grant, crm_fixture_load
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


# ---------------------------------------------------------------- failures end in a stored state


def test_a_database_error_mid_stream_keeps_the_text_as_a_partial_reply(
    scripted, turn, progress_saves_fail
):
    _, reply = turn
    scripted.enqueue("Two fit the brief and both are near schools.", chunk_size=5)
    events = run(reply)
    assert events[-1]["event"] == "done" and events[-1]["status"] == "partial"
    assert "OperationalError" in events[-1]["message"]
    reply.refresh_from_db()
    assert reply.status == "partial" and reply.raw == "Two f"  # the delta it had when it broke
    assert reply.error == events[-1]["message"]
    assert run(reply) == [events[-1]]  # a reload replays the stored end, not "being written"


def test_a_render_error_ends_the_reply_with_the_reason(scripted, turn, monkeypatch):
    from widgets.render import StreamRenderer

    feed = StreamRenderer.feed
    calls = []

    def breaks_on_the_third_delta(self, text):
        calls.append(text)
        if len(calls) == 3:
            raise ValueError("unexpected segment")
        return feed(self, text)

    monkeypatch.setattr(StreamRenderer, "feed", breaks_on_the_third_delta)
    _, reply = turn
    scripted.enqueue("Hello there, how can I help?", chunk_size=4)
    events = run(reply)
    reply.refresh_from_db()
    assert reply.status == "partial" and reply.raw == "Hello there,"
    assert "ValueError" in reply.error and events[-1]["status"] == "partial"


def test_a_failure_before_anything_is_generated_fails_the_reply_at_once(
    scripted, turn, monkeypatch
):
    import chat.replies

    def broken(*args, **kwargs):
        raise KeyError("listing_card")

    monkeypatch.setattr(chat.replies, "build_messages", broken)
    _, reply = turn
    events = run(reply)
    assert events[-1]["event"] == "error" and events[-1]["status"] == "failed"
    reply.refresh_from_db()
    assert reply.status == "failed" and "KeyError" in reply.error and reply.raw == ""
    # Not "being written in another window" for ten minutes: the stored failure, at once.
    assert run(reply) == [events[-1]]
    assert scripted.history == []


def test_when_finishing_fails_a_last_resort_marks_the_reply_failed(scripted, turn, monkeypatch):
    from django.db import DataError

    import chat.replies

    def refuses(**kwargs):
        raise DataError("A string literal cannot contain NUL (0x00) characters.")

    monkeypatch.setattr(chat.replies, "reply_finish", refuses)
    _, reply = turn
    scripted.enqueue("Hello\x00there.")
    events = run(reply)
    assert events[-1]["event"] == "error" and events[-1]["status"] == "failed"
    assert "could not be saved" in events[-1]["message"]
    reply.refresh_from_db()
    assert reply.status == "failed" and reply.error == events[-1]["message"]
    assert run(reply)[-1]["event"] == "error"  # replayed, not "being written in another window"


def test_a_stopped_reply_is_partial(scripted, turn):
    _, reply = turn
    scripted.enqueue("word " * 200, chunk_size=5)
    cancel = threading.Event()
    stream = reply_events(reply.pk, cancel=cancel)
    next(stream)
    cancel.set()
    *_, done = stream
    reply.refresh_from_db()
    assert reply.status == "partial" and done["status"] == "partial"
    assert done["message"] == reply.error == "Stopped before the end."


def test_the_page_shows_why_a_reply_is_incomplete(client, plain_user, scripted, turn):
    _, reply = turn
    Message.objects.filter(pk=reply.pk).update(
        status="partial", raw="Two fit", error="A server error cut this reply off."
    )
    client.force_login(plain_user)
    page = client.get(f"/c/{reply.conversation_id}/").content.decode()
    assert 'data-status="partial"' in page
    assert "A server error cut this reply off." in page
    assert '<div class="msg__error" role="alert">' in page  # shown, not hidden


def test_a_card_repeated_in_a_reply_ends_refused_on_the_page_and_in_the_store(scripted, turn):
    _, reply = turn
    other = {**LISTING, "mls_id": "TX-11873", "address": "4708 Ramsey Ave"}
    text = f"One:\n{block(LISTING)}\nAnother: {block(other)}\nAnd again: {block(LISTING)}"
    scripted.enqueue(text, chunk_size=5)
    events = run(reply)
    page: list[str] = []  # the page as the stream's ops build it
    for event in events[:-1]:
        for op in event["ops"]:
            page[op["segment"] : op["segment"] + 1] = [op["html"]]
    assert "".join(page) == events[-1]["html"]
    cards = [html for html in page if "weft-card" in html]
    assert [c.count('data-outcome="valid"') for c in cards] == [1, 1, 0]
    assert 'data-outcome="invalid"' in cards[2] and "repeats card 1 of this reply" in cards[2]
    assert "weft-card--fallback" in cards[2] and "12 Oak St" in cards[2]  # its raw text, kept
    reply.refresh_from_db()
    assert reply.raw == text
    assert [b["outcome"] for b in reply.blocks] == ["valid", "valid", "invalid"]
    assert reply.blocks[2]["errors"] == [
        {"pointer": "", "message": "repeats block 1: a card is shown once per reply"}
    ]


def action_names(branch: dict) -> list[str]:
    action = branch["properties"]["action"]
    return action["enum"] if "enum" in action else [action["const"]]


def test_the_grammar_offers_a_user_only_the_actions_they_hold(scripted, demo_registry):
    crm_fixture_load()
    offered = {}
    for name, held in (("all", list(ACTIONS)), ("tasks", ["create_task"]), ("none", [])):
        user = get_user_model().objects.create_user(name, password="pw-agent-123")
        crm_actions_grant(user=user, actions=held)
        conversation = conversation_create(owner=user)
        _, reply = chat_message_create(conversation=conversation, text="email the buyers")
        scripted.enqueue("Sure.")
        run(reply)
        constraint = scripted.history[-1].constraint
        assert constraint == widget_constraint(active_widget_specs(), reply.context)
        tags = json.loads(constraint.structural_tag)["format"].get("tags", [])
        schemas = [t["content"]["json_schema"] for t in tags if "action_request" in t["begin"]]
        offered[name] = (
            reply.context.get("actions"),
            [action_names(b) for b in schemas[0]["anyOf"]] if schemas else None,
        )
    assert offered == {
        "all": (None, [["book_showing"], ["send_email"], ["create_task"],
                       ["update_listing_status"]]),
        "tasks": (["create_task"], [["create_task"]]),
        "none": ([], None),
    }  # fmt: skip
