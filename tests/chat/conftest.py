import json

import pytest

from chat.services import chat_message_create, conversation_create
from demo.services import crm_fixture_load

LISTING = {
    "mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000,
    "beds": 3, "baths": 2, "sqft": 1640, "status": "active",
}  # fmt: skip


def block(payload, widget_type="listing_card") -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f'<widget type="{widget_type}">{body}</widget>'


@pytest.fixture
def conversation(plain_user, demo_registry):
    return conversation_create(owner=plain_user)


@pytest.fixture
def turn(conversation):
    """A user message and its (not yet generated) reply, with the demo CRM behind it."""
    crm_fixture_load()
    return chat_message_create(
        conversation=conversation, text="anything 3 bed in Austin under 500k?"
    )
