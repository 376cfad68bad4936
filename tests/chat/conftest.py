import json

import pytest

from chat.services import chat_message_create, conversation_create
from demo.services import crm_actions_grant, crm_fixture_load

LISTING = {
    "mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000,
    "beds": 3, "baths": 2, "sqft": 1640, "status": "active",
}  # fmt: skip


def block(payload, widget_type="listing_card") -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f'<widget type="{widget_type}">{body}</widget>'


@pytest.fixture
def conversation(plain_user, demo_registry):
    """A CRM agent's conversation: its owner may run every demo action, so turns carry no
    `actions` (tests of fewer make their own)."""
    crm_actions_grant(user=plain_user)
    return conversation_create(owner=plain_user)


@pytest.fixture
def turn(conversation):
    """A user message and its (not yet generated) reply, with the demo CRM behind it."""
    crm_fixture_load()
    return chat_message_create(
        conversation=conversation, text="anything 3 bed in Austin under 500k?"
    )


@pytest.fixture
def progress_saves_fail(monkeypatch):
    """Every save of the partial text mid-stream (an update of `raw` alone) raises."""
    from django.db import OperationalError
    from django.db.models import QuerySet

    import chat.replies
    from chat.models import Message

    update = QuerySet.update

    def failing(self, **fields):
        if self.model is Message and set(fields) == {"raw"}:
            raise OperationalError("database is locked")
        return update(self, **fields)

    monkeypatch.setattr(chat.replies, "SAVE_EVERY_S", -1.0)  # save after every delta
    monkeypatch.setattr(QuerySet, "update", failing)
