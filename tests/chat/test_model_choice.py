"""Who may have which model answer: staff any registered model; everyone else the served
(promoted) model, the base model, and the adapters staff made selectable. The rest is a 400
that names the field, and the picker offers only what the user may pick."""

import pytest
from rest_framework.test import APIClient

from chat.models import Message
from chat.services import (
    ChatError,
    chat_message_create,
    chat_reply_regenerate,
    conversation_create,
)
from finetune.models import Adapter, Dataset, Promotion

pytestmark = pytest.mark.django_db


@pytest.fixture
def adapters(db):
    """An adapter staff have not offered to everyone, one they have, and the promoted one."""
    dataset = Dataset.objects.create(name="d", source="import")
    made = {}
    for name, selectable in (("trial-v1", False), ("open-v1", True), ("served-v1", False)):
        made[name] = Adapter.objects.create(
            name=name, dataset=dataset, path=f"/nowhere/{name}", manual_prompt=False,
            selectable=selectable,
        )  # fmt: skip
    Promotion.objects.create(adapter=made["served-v1"])
    return made


@pytest.fixture
def staff_conversation(staff_user, demo_registry):
    return conversation_create(owner=staff_user)


def reply_in(conversation) -> Message:
    _, reply = chat_message_create(conversation=conversation, text="hello", model_name="base")
    Message.objects.filter(pk=reply.pk).update(raw="Hi.", status="done")
    reply.refresh_from_db()
    return reply


@pytest.mark.parametrize("name", ["base", "served-v1", "open-v1"])
def test_anyone_may_pick_the_served_the_base_and_selectable_models(adapters, conversation, name):
    _, reply = chat_message_create(conversation=conversation, text="hi", model_name=name)
    assert reply.model_name == name


@pytest.mark.parametrize("name", ["trial-v1", "nobody-v9"])
def test_other_models_are_refused_to_a_user_naming_the_field(adapters, conversation, name):
    with pytest.raises(ChatError) as refused:
        chat_message_create(conversation=conversation, text="hi", model_name=name)
    assert refused.value.field == "model" and name in str(refused.value)
    assert "served-v1, base, open-v1" in str(refused.value)  # what they may pick instead
    assert not Message.objects.exists()


def test_regenerating_with_a_model_the_user_may_not_pick_is_refused(adapters, conversation):
    reply = reply_in(conversation)
    with pytest.raises(ChatError) as refused:
        chat_reply_regenerate(reply=reply, model_name="trial-v1")
    assert refused.value.field == "model"
    reply.refresh_from_db()
    assert reply.is_current and Message.objects.filter(role="assistant").count() == 1
    assert chat_reply_regenerate(reply=reply, model_name="open-v1").model_name == "open-v1"


def test_staff_may_pick_any_registered_model_and_nothing_else(adapters, staff_conversation):
    _, reply = chat_message_create(
        conversation=staff_conversation, text="hi", model_name="trial-v1"
    )
    assert reply.model_name == "trial-v1"
    with pytest.raises(ChatError) as refused:
        chat_message_create(conversation=staff_conversation, text="hi", model_name="nobody-v9")
    assert refused.value.field == "model"


def test_the_api_answers_400_naming_the_model_field(adapters, conversation, plain_user):
    client = APIClient()
    client.force_authenticate(plain_user)
    response = client.post(
        f"/api/conversations/{conversation.pk}/messages/",
        {"text": "hi", "model": "trial-v1"},
        format="json",
    )
    assert response.status_code == 400 and "trial-v1" in response.json()["model"][0]
    reply = reply_in(conversation)
    response = client.post(
        f"/api/messages/{reply.pk}/regenerate/", {"model": "trial-v1"}, format="json"
    )
    assert response.status_code == 400 and "model" in response.json()


def test_the_model_list_offers_what_the_user_may_pick(adapters, user_api, staff_api):
    mine = user_api.get("/api/models/").json()
    assert [m["name"] for m in mine] == ["served-v1", "base", "open-v1"]
    assert mine[0] == {"name": "served-v1", "kind": "adapter", "default": True}
    staff = [m["name"] for m in staff_api.get("/api/models/").json()]
    assert staff == ["served-v1", "base", "open-v1", "trial-v1"]


def test_the_picker_offers_only_what_the_user_may_pick(
    adapters, client, conversation, plain_user, staff_user, staff_conversation
):
    client.force_login(plain_user)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert '<option value="served-v1" selected>' in page
    assert '<option value="open-v1"' in page and '<option value="base"' in page
    assert "trial-v1" not in page
    client.force_login(staff_user)
    page = client.get(f"/c/{staff_conversation.pk}/").content.decode()
    assert '<option value="trial-v1"' in page


def test_a_new_adapter_is_not_selectable_until_staff_say_so(db):
    dataset = Dataset.objects.create(name="d", source="import")
    adapter = Adapter.objects.create(name="new-v1", dataset=dataset, path="/x", manual_prompt=True)
    assert adapter.selectable is False
