import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat.models import Feedback, Message
from chat.services import chat_message_create
from tests.chat.conftest import LISTING, block

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_api(plain_user):
    client = APIClient()
    client.force_authenticate(plain_user)
    return client


@pytest.fixture
def other_api(db):
    other = get_user_model().objects.create_user("other", password="pw-other-123")
    client = APIClient()
    client.force_authenticate(other)
    return client


@pytest.fixture
def reply(conversation):
    _, reply = chat_message_create(conversation=conversation, text="hello")
    Message.objects.filter(pk=reply.pk).update(raw=f"Here: {block(LISTING)}", status="done")
    return reply


def test_post_a_message_returns_both_and_a_stream_url(owner_api, conversation):
    response = owner_api.post(
        f"/api/conversations/{conversation.pk}/messages/", {"text": "hi"}, format="json"
    )
    assert response.status_code == 201
    user_message, reply = response.json()
    assert (user_message["role"], reply["role"], reply["status"]) == (
        "user",
        "assistant",
        "streaming",
    )
    assert reply["stream_url"] == f"/api/messages/{reply['id']}/stream/"
    listed = owner_api.get(f"/api/conversations/{conversation.pk}/messages/").json()
    assert [m["id"] for m in listed] == [user_message["id"], reply["id"]]


def test_empty_message_is_a_400(owner_api, conversation):
    response = owner_api.post(
        f"/api/conversations/{conversation.pk}/messages/", {"text": "  "}, format="json"
    )
    assert response.status_code == 400 and "text" in response.json()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", "/api/conversations/{c}/", None),
        ("get", "/api/conversations/{c}/messages/", None),
        ("post", "/api/conversations/{c}/messages/", {"text": "hi"}),
        ("get", "/api/messages/{m}/", None),
        ("put", "/api/messages/{m}/feedback/", {"rating": 1}),
        ("get", "/api/messages/{m}/corrections/", None),
        ("post", "/api/messages/{m}/corrections/", {"raw": "better"}),
        ("post", "/api/messages/{m}/regenerate/", {}),
        ("post", "/api/messages/{m}/actions/0/", {"decision": "confirm"}),
    ],
)
def test_someone_elses_rows_are_404(other_api, owner_api, reply, method, url, body):
    url = url.format(c=reply.conversation_id, m=reply.pk)
    response = getattr(other_api, method)(url, body, format="json")
    assert response.status_code == 404
    assert not Feedback.objects.exists() and not reply.corrections.exists()
    assert other_api.get("/api/conversations/").json() == []


def test_someone_elses_stream_is_404(client, reply):
    other = get_user_model().objects.create_user("other", password="pw-other-123")
    client.force_login(other)
    assert client.get(f"/api/messages/{reply.pk}/stream/").status_code == 404
    client.logout()
    assert client.get(f"/api/messages/{reply.pk}/stream/").status_code == 404


def test_anonymous_is_refused(reply):
    assert APIClient().get("/api/conversations/").status_code in (401, 403)


def test_session_writes_need_csrf(client, plain_user, reply):
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.force_login(plain_user)
    response = csrf_client.put(f"/api/messages/{reply.pk}/feedback/", {"rating": 1}, format="json")
    assert response.status_code == 403 and not Feedback.objects.exists()


def test_token_auth_reads_and_writes(plain_user, reply):
    token = Token.objects.create(user=plain_user)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert (
        client.put(f"/api/messages/{reply.pk}/feedback/", {"rating": 1}, format="json").status_code
        == 200
    )
    assert Feedback.objects.get().rating == 1


def test_feedback_and_corrections_over_the_api(owner_api, reply):
    up = owner_api.put(
        f"/api/messages/{reply.pk}/feedback/", {"rating": -1, "comment": "wrong"}, format="json"
    )
    assert up.json()["rating"] == -1
    assert (
        owner_api.put(
            f"/api/messages/{reply.pk}/feedback/", {"rating": 3}, format="json"
        ).status_code
        == 400
    )
    bad = owner_api.post(
        f"/api/messages/{reply.pk}/corrections/",
        {"raw": block({**LISTING, "beds": "three"})},
        format="json",
    )
    assert bad.status_code == 400 and "/beds" in bad.json()["raw"][0]
    good = owner_api.post(
        f"/api/messages/{reply.pk}/corrections/",
        {"raw": f"Better: {block(LISTING)}"},
        format="json",
    )
    assert good.status_code == 201 and good.json()["training_candidate"] is True


def test_openapi_documents_the_chat_api(owner_api):
    paths = owner_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in (
        "/api/conversations/{id}/messages/",
        "/api/messages/{id}/feedback/",
        "/api/messages/{id}/corrections/",
        "/api/messages/{id}/stream/",
    ):
        assert path in paths, path


def test_pages_need_login_and_show_only_own_conversations(client, plain_user, reply):
    assert client.get("/").status_code == 302
    other = get_user_model().objects.create_user("other", password="pw-other-123")
    client.force_login(other)
    assert client.get(f"/c/{reply.conversation_id}/").status_code == 404
    client.force_login(plain_user)
    page = client.get(f"/c/{reply.conversation_id}/").content.decode()
    assert 'data-outcome="valid"' in page and "$449,000" in page and 'data-block-index="0"' in page
