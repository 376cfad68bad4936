import pytest
from django.contrib.auth import get_user_model

from chat.models import ActionRun, Message
from chat.replies import reply_html
from chat.services import (
    ChatError,
    action_decide,
    chat_message_create,
    chat_reply_regenerate,
    conversation_create,
    correction_create,
    feedback_set,
)
from demo.models import Listing, QueuedEmail, Task
from demo.services import crm_actions_grant, crm_fixture_load
from demo.widget_files import demo_widgets_load
from tests.chat.conftest import LISTING, block
from widgets.selectors import version_numbers

pytestmark = pytest.mark.django_db


def finished_reply(conversation, raw):
    _, reply = chat_message_create(conversation=conversation, text="question")
    Message.objects.filter(pk=reply.pk).update(raw=raw, status="done")
    reply.refresh_from_db()
    return reply


def test_empty_and_overlong_messages_are_refused(conversation):
    with pytest.raises(ChatError, match="Write a message"):
        chat_message_create(conversation=conversation, text="   ")
    with pytest.raises(ChatError, match="under 4000"):
        chat_message_create(conversation=conversation, text="x" * 4001)
    assert not Message.objects.exists()


def test_first_message_titles_the_conversation(conversation):
    chat_message_create(conversation=conversation, text="anything 3 bed in Austin under 500k?")
    conversation.refresh_from_db()
    assert conversation.title == "anything 3 bed in Austin under 500k?"


def test_regenerate_keeps_the_old_reply(conversation):
    reply = finished_reply(conversation, "first try")
    fresh = chat_reply_regenerate(reply=reply)
    reply.refresh_from_db()
    assert not reply.is_current and fresh.is_current and fresh.status == "streaming"
    assert fresh.context == reply.context
    with pytest.raises(ChatError, match="still being written"):
        chat_reply_regenerate(reply=fresh)


def test_feedback_up_down_and_comment(conversation):
    reply = finished_reply(conversation, "ok")
    feedback_set(message=reply, rating=1)
    feedback_set(message=reply, rating=-1, comment="wrong city")
    reply.refresh_from_db()
    assert (reply.feedback.rating, reply.feedback.comment) == (-1, "wrong city")
    with pytest.raises(ChatError):
        feedback_set(message=reply, rating=5)


def test_correction_must_hold_only_valid_widgets_and_keeps_the_original(conversation, plain_user):
    reply = finished_reply(conversation, f"Here: {block({**LISTING, 'price': 'cheap'})}")
    with pytest.raises(ChatError) as caught:
        correction_create(
            message=reply, raw=f"Here: {block({**LISTING, 'price': 'cheap'})} x", author=plain_user
        )
    assert "widget 1 (listing_card) is invalid: /price:" in str(caught.value)
    with pytest.raises(ChatError, match="is malformed"):
        correction_create(message=reply, raw=block('{"mls_id": '), author=plain_user)
    with pytest.raises(ChatError, match="same as the answer"):
        correction_create(message=reply, raw=reply.raw, author=plain_user)
    correction = correction_create(message=reply, raw=f"Here: {block(LISTING)}", author=plain_user)
    reply.refresh_from_db()
    assert reply.raw.startswith("Here: ") and "cheap" in reply.raw  # the original stays
    assert correction.training_candidate and correction.widget_versions["listing_card"] == 1


def test_action_runs_only_when_confirmed_and_only_once(conversation, plain_user):
    crm_fixture_load()
    listing = Listing.objects.filter(status="active").first()
    email = {
        "action": "send_email",
        "summary": "Email the buyers",
        "params": {"to": ["a@example.com"], "subject": "New price"},
    }
    status = {"action": "update_listing_status", "summary": f"Mark {listing.address} pending",
              "params": {"mls_id": listing.mls_id, "status": "pending"}}  # fmt: skip
    reply = finished_reply(
        conversation,
        f"{block(LISTING)} {block(email, 'action_request')} {block(status, 'action_request')}",
    )
    assert not QueuedEmail.objects.exists()  # nothing runs without the click
    cancelled = action_decide(message=reply, block_index=1, confirm=False, user=plain_user)
    assert cancelled.status == "cancelled" and not QueuedEmail.objects.exists()
    done = action_decide(message=reply, block_index=2, confirm=True, user=plain_user)
    assert done.status == "done" and "pending" in done.outcome
    listing.refresh_from_db()
    assert listing.status == "pending"
    with pytest.raises(ChatError, match="already decided"):
        action_decide(message=reply, block_index=2, confirm=True, user=plain_user)
    with pytest.raises(ChatError, match="no action card"):
        action_decide(message=reply, block_index=0, confirm=True, user=plain_user)
    assert ActionRun.objects.count() == 2


def test_failing_action_is_recorded_as_failed(conversation, plain_user):
    bad = {
        "action": "update_listing_status",
        "summary": "Mark it sold",
        "params": {"mls_id": "ZZ-0000", "status": "sold"},
    }
    reply = finished_reply(conversation, block(bad, "action_request"))
    run = action_decide(message=reply, block_index=0, confirm=True, user=plain_user)
    assert run.status == "failed" and "no listing" in run.outcome


def test_a_card_repeated_in_a_reply_cannot_run_a_second_time(conversation, plain_user):
    crm_fixture_load()
    task = {"action": "create_task", "summary": "Call Ann", "params": {"title": "Call Ann"}}
    card = block(task, "action_request")
    reply = finished_reply(conversation, f"{card} and again {card}")
    with pytest.raises(ChatError, match="not valid"):
        action_decide(message=reply, block_index=1, confirm=True, user=plain_user)
    assert action_decide(message=reply, block_index=0, confirm=True, user=plain_user).status == (
        "done"
    )
    assert Task.objects.count() == 1


def test_a_user_offered_fewer_actions_has_them_listed_and_the_others_refused(
    demo_registry, plain_user
):
    crm_fixture_load()
    crm_actions_grant(user=plain_user, actions=["create_task"])
    user = get_user_model().objects.get(pk=plain_user.pk)
    _, reply = chat_message_create(
        conversation=conversation_create(owner=user), text="mark it as pending"
    )
    assert reply.context["actions"] == ["create_task"]
    listing = Listing.objects.filter(status="active").first()
    status = {"action": "update_listing_status", "summary": f"Mark {listing.address} pending",
              "params": {"mls_id": listing.mls_id, "status": "pending"}}  # fmt: skip
    Message.objects.filter(pk=reply.pk).update(raw=block(status, "action_request"), status="done")
    reply.refresh_from_db()
    run = action_decide(message=reply, block_index=0, confirm=True, user=user)
    assert run.status == "failed" and "may not run update_listing_status" in run.outcome
    listing.refresh_from_db()
    assert listing.status == "active"


def test_activating_action_request_v2_keeps_stored_messages_on_v1(demo_registry_v1, plain_user):
    """A message keeps the version it was parsed with: v1's untyped params stay a valid card
    there, while a new reply is held to v2 (its typed params refuse the same text)."""
    crm_actions_grant(user=plain_user)
    conversation = conversation_create(owner=plain_user)
    untyped = {"action": "send_email", "summary": "Email the buyers",
               "params": {"to": "a@example.com"}}  # fmt: skip
    old = finished_reply(conversation, block(untyped, "action_request"))
    assert old.widget_versions["action_request"] == 1

    assert demo_widgets_load()["action_request"] == "new version"
    assert version_numbers()["action_request"] == 2
    old.refresh_from_db()
    assert old.widget_versions["action_request"] == 1
    assert 'data-outcome="valid"' in reply_html(old)
    new = finished_reply(conversation, block(untyped, "action_request"))
    assert new.widget_versions["action_request"] == 2
    assert 'data-outcome="invalid"' in reply_html(new)
    # Confirming the old card reaches the CRM, which holds its params to the typed ones.
    run = action_decide(message=old, block_index=0, confirm=True, user=plain_user)
    assert run.status == "failed" and "params/to" in run.outcome
    assert not QueuedEmail.objects.exists()
