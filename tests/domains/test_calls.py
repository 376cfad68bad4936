"""Whatever a Python domain raises or returns, the chat keeps the user's message, stores a
failed reply with a message, and goes on (domains/calls.py)."""

import json
import threading

import pytest

from chat.models import ActionRun, Message
from chat.replies import reply_events
from chat.services import action_decide, chat_message_create, chat_reply_regenerate
from domains.calls import run_action, turn_context
from domains.protocol import DomainUnavailable
from tests.domains.failing import FLAKY

pytestmark = pytest.mark.django_db

BAD_CONTEXTS = {
    "raises": "flaky desk could not look up the records for this question.",
    "unavailable": "The flaky desk is down for maintenance.",
    "list": "flaky desk answered with a list where records were expected.",
    "none": "flaky desk answered with a NoneType where records were expected.",
    "not_json": "flaky desk answered with records that cannot be stored.",
    "nan": "flaky desk answered with records that cannot be stored.",
    "recursive": "flaky desk answered with records that cannot be stored.",
    "int_keys": "flaky desk answered with records that do not survive storage as JSON.",
    "huge": "flaky desk answered with more records than a turn can hold.",
}


@pytest.fixture
def flaky(settings):
    settings.WEFT_DOMAIN = "tests.domains.failing:FLAKY"
    FLAKY.behaviour = "ok"
    yield FLAKY
    FLAKY.behaviour = "ok"


@pytest.fixture
def conversation(plain_user):
    from chat.services import conversation_create

    return conversation_create(owner=plain_user)


@pytest.mark.parametrize("behaviour", sorted(BAD_CONTEXTS))
def test_a_bad_context_fails_the_reply_with_a_message_and_keeps_the_question(
    flaky, conversation, behaviour
):
    flaky.behaviour = behaviour
    question, reply = chat_message_create(conversation=conversation, text="refund A-1")
    question.refresh_from_db()
    reply.refresh_from_db()
    assert question.raw == "refund A-1"
    assert reply.status == Message.Status.FAILED and reply.raw == "" and reply.context == {}
    assert reply.error.startswith(BAD_CONTEXTS[behaviour])
    # The stream says so instead of generating from a turn without its records.
    events = list(reply_events(reply.pk, cancel=threading.Event()))
    assert [e["event"] for e in events] == ["error"] and events[0]["message"] == reply.error


def test_regenerate_asks_the_domain_again(flaky, conversation, scripted):
    flaky.behaviour = "raises"
    _, failed = chat_message_create(conversation=conversation, text="refund A-1")
    flaky.behaviour = "ok"
    fresh = chat_reply_regenerate(reply=failed)
    assert fresh.status == Message.Status.STREAMING and fresh.context == {"orders": []}
    scripted.enqueue("Nothing to refund.")
    assert list(reply_events(fresh.pk, cancel=threading.Event()))[-1]["event"] == "done"


def test_a_context_the_domain_gets_from_a_broken_query_leaves_the_chat_usable(flaky, conversation):
    """A database error inside context() is rolled back to a savepoint, not the whole turn."""
    from django.db import connection

    def broken_query(*, question, history, user):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    flaky.context = broken_query
    try:
        _, reply = chat_message_create(conversation=conversation, text="hi")
    finally:
        del flaky.context
    assert Message.objects.get(pk=reply.pk).status == Message.Status.FAILED


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("raises", "flaky desk could not run refund; nothing was confirmed. Try again later."),
        ("none", "flaky desk ran refund but did not say what it did"),
        ("list", "flaky desk ran refund but did not say what it did"),
        ("unavailable", "The flaky desk is down for maintenance."),
    ],
)
def test_a_failing_action_is_recorded_failed_with_a_message(
    flaky, conversation, plain_user, behaviour, message
):
    from domains.services import domain_widgets_load

    domain_widgets_load(widgets_dir=flaky.widgets_dir)
    _, reply = chat_message_create(conversation=conversation, text="refund A-100")
    payload = {"action": "refund", "params": {"order_id": "A-100"}}
    Message.objects.filter(pk=reply.pk).update(
        raw=f'<widget type="refund_offer">{json.dumps(payload)}</widget>', status="done"
    )
    reply.refresh_from_db()
    flaky.behaviour = behaviour
    run = action_decide(message=reply, block_index=0, confirm=True, user=plain_user)
    assert run.status == ActionRun.Status.FAILED and run.outcome.startswith(message)


def test_the_calls_pass_a_good_domain_through(flaky, plain_user):
    assert turn_context(question="q", history=["a", "b"], user=plain_user) == {"orders": []}
    assert run_action(action="refund", params={}, user=plain_user) == "Done."
    flaky.behaviour = "huge"
    with pytest.raises(DomainUnavailable):
        turn_context(question="q", history=[], user=plain_user)
