"""The SSE view through Django's ASGI handler, with async-safety checks on (no browser)."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from chat.models import Message
from tests.chat.conftest import LISTING, block

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def close_async_connections():
    yield
    # The async ORM ran in asgiref's worker thread; its connection would outlive the test DB.
    await sync_to_async(connections.close_all)()


def parse_sse(body: str) -> list[dict]:
    events = []
    for chunk in body.split("\n\n"):
        data = [line[len("data: ") :] for line in chunk.splitlines() if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


async def read(response) -> str:
    return "".join([part.decode() async for part in response.streaming_content])


async def test_stream_sends_ops_then_done_over_asgi(scripted, turn, plain_user):
    _, reply = turn
    scripted.enqueue(f"Here:\n{block(LISTING)}", chunk_size=6)
    client = AsyncClient()
    await client.aforce_login(plain_user)
    response = await client.get(f"/api/messages/{reply.pk}/stream/")
    assert response["Content-Type"] == "text/event-stream"
    events = parse_sse(await read(response))
    assert events[0]["event"] == "ops" and events[-1]["event"] == "done"
    assert 'data-outcome="valid"' in events[-1]["html"]
    stored = await Message.objects.aget(pk=reply.pk)
    assert stored.status == "done" and stored.blocks[0]["outcome"] == "valid"


async def test_stream_with_a_token(scripted, turn, plain_user):
    from rest_framework.authtoken.models import Token

    _, reply = turn
    token = await sync_to_async(Token.objects.create)(user=plain_user)
    scripted.enqueue("Hi.")
    response = await AsyncClient().get(
        f"/api/messages/{reply.pk}/stream/", headers={"Authorization": f"Token {token.key}"}
    )
    assert parse_sse(await read(response))[-1]["event"] == "done"
    bad = await AsyncClient().get(
        f"/api/messages/{reply.pk}/stream/", headers={"Authorization": "Token nope"}
    )
    assert bad.status_code == 404
