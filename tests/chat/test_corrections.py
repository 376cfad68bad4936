"""Corrections need a finished reply and a staff review before they train (Hardening E)."""

import pytest
from rest_framework.test import APIClient

from chat.models import Correction, Message
from chat.services import (
    ChatError,
    chat_message_create,
    correction_create,
    correction_review,
    feedback_set,
)
from finetune.conversation_rows import conversation_rows
from tests.chat.conftest import LISTING, block

pytestmark = pytest.mark.django_db

BETTER = f"Here it is: {block(LISTING)}"


def reply_in(conversation, *, raw="It is cheap.", status="done", error=""):
    _, reply = chat_message_create(conversation=conversation, text="price of 12 Oak St?")
    Message.objects.filter(pk=reply.pk).update(raw=raw, status=status, error=error)
    reply.refresh_from_db()
    return reply


def corrected_ids() -> list[str]:
    return [line["meta"]["id"] for _, line in conversation_rows(feedback="corrected")]


# ------------------------------------------------------------------ only finished replies


def test_a_streaming_reply_cannot_be_corrected(conversation, plain_user):
    _, reply = chat_message_create(conversation=conversation, text="what is 2+2?")
    assert reply.status == "streaming"
    with pytest.raises(ChatError, match="still being written") as caught:
        correction_create(message=reply, raw="123", author=plain_user)
    assert caught.value.code == "not_finished"
    assert not Correction.objects.exists()


@pytest.mark.parametrize(
    ("status", "error"), [("failed", "The model stopped."), ("done", "Cut off: backend down")]
)
def test_a_reply_that_failed_cannot_be_corrected(conversation, plain_user, status, error):
    reply = reply_in(conversation, raw="partial", status=status, error=error)
    with pytest.raises(ChatError, match="regenerate") as caught:
        correction_create(message=reply, raw=BETTER, author=plain_user)
    assert caught.value.code == "not_finished"
    assert not Correction.objects.exists()


def test_the_api_says_why_an_unfinished_reply_cannot_be_corrected(conversation, plain_user):
    _, reply = chat_message_create(conversation=conversation, text="what is 2+2?")
    client = APIClient()
    client.force_authenticate(plain_user)
    response = client.post(f"/api/messages/{reply.pk}/corrections/", {"raw": "123"}, format="json")
    assert response.status_code == 400
    assert "still being written" in response.json()["non_field_errors"][0]


# ------------------------------------------------------------------ review before training


def test_a_correction_trains_only_once_staff_accept_it(conversation, plain_user, staff_user):
    reply = reply_in(conversation)
    correction = correction_create(message=reply, raw=BETTER, author=plain_user)
    assert correction.review == Correction.Review.PENDING
    assert corrected_ids() == []

    reviewed = correction_review(correction=correction, accept=True, reviewer=staff_user)
    assert (reviewed.review, reviewed.reviewed_by, reviewed.reviewed_at is not None) == (
        "accepted",
        staff_user,
        True,
    )
    assert corrected_ids() == [f"chat-{reply.pk}-c{correction.pk}"]


def test_a_rejected_correction_never_trains(conversation, plain_user, staff_user):
    reply = reply_in(conversation)
    correction = correction_create(message=reply, raw=BETTER, author=plain_user)
    correction_review(correction=correction, accept=False, reviewer=staff_user)
    correction.refresh_from_db()
    assert correction.review == "rejected" and corrected_ids() == []


def test_only_staff_review(conversation, plain_user):
    correction = correction_create(message=reply_in(conversation), raw=BETTER, author=plain_user)
    with pytest.raises(ChatError, match="staff") as caught:
        correction_review(correction=correction, accept=True, reviewer=plain_user)
    assert caught.value.code == "forbidden"
    correction.refresh_from_db()
    assert correction.review == "pending" and correction.reviewed_by is None


def test_the_newest_accepted_correction_wins(conversation, plain_user, staff_user):
    reply = reply_in(conversation)
    first = correction_create(message=reply, raw=BETTER, author=plain_user)
    correction_review(correction=first, accept=True, reviewer=staff_user)
    correction_create(message=reply, raw=f"{BETTER} (newer, unreviewed)", author=plain_user)
    assert corrected_ids() == [f"chat-{reply.pk}-c{first.pk}"]


# ------------------------------------------------------------------ replies with an error


@pytest.mark.parametrize(
    ("status", "error"),
    [("failed", "The CRM did not answer."), ("done", "Cut off: backend down"), ("streaming", "")],
)
def test_replies_with_an_error_never_become_rows(conversation, status, error):
    good = reply_in(conversation, raw="Fine.")
    feedback_set(message=good, rating=1)
    broken = reply_in(conversation, raw="Half an ans", status=status, error=error)
    feedback_set(message=broken, rating=1)
    ids = [line["meta"]["id"] for _, line in conversation_rows(feedback="any")]
    assert ids == [f"chat-{good.pk}"]


def test_an_accepted_correction_of_a_reply_that_later_failed_is_left_out(
    conversation, plain_user, staff_user
):
    reply = reply_in(conversation)
    correction = correction_create(message=reply, raw=BETTER, author=plain_user)
    correction_review(correction=correction, accept=True, reviewer=staff_user)
    Message.objects.filter(pk=reply.pk).update(status="failed", error="regenerated badly")
    assert corrected_ids() == []


# ------------------------------------------------------------------ the staff queue: page, API


@pytest.fixture
def pending(conversation, plain_user):
    return correction_create(message=reply_in(conversation), raw=BETTER, author=plain_user)


def test_the_review_page_lists_pending_corrections_and_decides(client, staff_user, pending):
    client.force_login(staff_user)
    page = client.get("/finetune/corrections/").content.decode()
    assert "Here it is:" in page and "It is cheap." in page and "price of 12 Oak St?" in page
    assert f'action="/finetune/corrections/{pending.pk}/review/"' in page
    response = client.post(f"/finetune/corrections/{pending.pk}/review/", {"decision": "accept"})
    assert response.status_code == 302 and response.url == "/finetune/corrections/"
    pending.refresh_from_db()
    assert pending.review == "accepted" and pending.reviewed_by == staff_user
    assert "Here it is:" not in client.get("/finetune/corrections/").content.decode()


def test_the_review_page_is_for_staff_only(client, plain_user, pending):
    client.force_login(plain_user)
    assert client.get("/finetune/corrections/").status_code == 302  # to the admin login
    client.post(f"/finetune/corrections/{pending.pk}/review/", {"decision": "accept"})
    pending.refresh_from_db()
    assert pending.review == "pending"


def test_the_review_page_refuses_an_unknown_decision(client, staff_user, pending):
    client.force_login(staff_user)
    client.post(f"/finetune/corrections/{pending.pk}/review/", {"decision": "maybe"})
    pending.refresh_from_db()
    assert pending.review == "pending"


def test_the_review_api(staff_api, user_api, pending, staff_user):
    assert user_api.get("/api/finetune/corrections/").status_code == 403
    assert (
        user_api.post(
            f"/api/finetune/corrections/{pending.pk}/review/", {"decision": "accept"}, format="json"
        ).status_code
        == 403
    )
    listed = staff_api.get("/api/finetune/corrections/").json()
    assert [(c["id"], c["review"], c["original"]) for c in listed] == [
        (pending.pk, "pending", "It is cheap.")
    ]
    assert listed[0]["question"] == "price of 12 Oak St?"
    bad = staff_api.post(
        f"/api/finetune/corrections/{pending.pk}/review/", {"decision": "maybe"}, format="json"
    )
    assert bad.status_code == 400
    done = staff_api.post(
        f"/api/finetune/corrections/{pending.pk}/review/", {"decision": "reject"}, format="json"
    )
    assert done.status_code == 200
    assert (done.json()["review"], done.json()["reviewed_by"]) == ("rejected", "staff")
    assert staff_api.get("/api/finetune/corrections/").json() == []
    reviewed = staff_api.get("/api/finetune/corrections/?review=rejected").json()
    assert [c["id"] for c in reviewed] == [pending.pk]


def test_the_review_api_is_in_the_openapi_schema(staff_api):
    paths = staff_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert "/api/finetune/corrections/" in paths
    assert "/api/finetune/corrections/{id}/review/" in paths
