"""Fuzz every operation of /api/schema/ against the app itself, with every schemathesis check.

The schema is the contract: a request it allows must be accepted, one it forbids refused, and
every answer must be a status and body it documents. Runs in-process (WSGI), once as staff and
once as a plain user, each with a token, on the demo registry and a few rows at known ids that
generated paths and bodies draw on (half the time), so the fuzz reaches past the 404s.
Derandomised with a fixed seed: CI sends the same requests every run.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from chat.models import Conversation, Correction, Message
from chat.services import chat_message_create
from demo.widget_files import demo_widget_definitions
from finetune.models import Dataset, DatasetRow, FinetuneJob
from finetune.rows import stable_split
from finetune.training.config import TrainConfig
from project.wsgi import application
from tests.chat.conftest import LISTING, block

SEED = 20250611
MAX_EXAMPLES = 25  # per operation in the fuzzing phase; the coverage phase adds its own cases
# The reply stream is SSE: an endless body no check can read whole (tests/chat test it).
SKIPPED_OPERATIONS = ["messages_stream"]
# Requests judged beyond what any OpenAPI schema can say, so a schema-valid one may be refused
# (400), which is right: a widget's JSON Schema must itself be valid, and its examples and the
# grounded fields must fit it (widgets.version_checks, widgets.grounding); an uploaded dataset
# is JSONL whose every line is checked (finetune.datasets); a job names a dataset, a message a
# model, that must exist (fuzzing names a dataset that does; the coverage phase's edge values
# do not); only the current reply is regenerated, only what the queue refused is sent again.
CONTENT_CHECKED_OPERATIONS = [
    "widgets_create",
    "widgets_partial_update",
    "widgets_versions_create",
    "widgets_versions_activate_create",
    "datasets_create",
    "finetune_jobs_create",
    "conversations_messages_create",
    "messages_regenerate_create",
    "finetune_jobs_retry_create",
    "finetune_evals_retry_create",
]
STAFF_TOKEN = "fuzz-staff-" + "0" * 29  # 40 characters, as DRF's own
PLAIN_TOKEN = "fuzz-plain-" + "0" * 29
# Ids far above what a sequence hands out in a test, so rows created during the run never
# collide with them: the staff user's objects have STAFF_PK, the plain user's PLAIN_PK (each
# run also asks for the other's, which must be a 404).
STAFF_PK, PLAIN_PK = 424_242, 424_243


def _schema(token: str):
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # DRF refuses NUL in every string, as the API's description says; no string
                # schema says it field by field.
                "allow-x00": False,
            },
            # Stateful runs chain operations through links, which the schema does not declare.
            "phases": {"stateful": {"enabled": False}},
            "auth": {"openapi": {"tokenAuth": {"api_key": f"Token {token}"}}},
            "dictionaries": {
                "ids": {"values": [STAFF_PK, PLAIN_PK]},
                "widgets": {"values": [w.name for w in demo_widget_definitions()]},
                "versions": {"values": [1]},
                "blocks": {"values": [0, 1]},
            },
            "parameters": {
                "path.id": {"dictionary": "ids", "probability": 0.5},
                "path.name": {"dictionary": "widgets", "probability": 0.5},
                "path.version": {"dictionary": "versions", "probability": 0.5},
                "path.block": {"dictionary": "blocks", "probability": 0.5},
                # A job needs a dataset with training rows: the rest of the body is fuzzed.
                "body.dataset": {"dictionary": "ids", "probability": 1.0},
            },
            "operations": [
                {
                    "include-operation-id": CONTENT_CHECKED_OPERATIONS,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "403", "404"]
                        }
                    },
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)
    return schema.exclude(operation_id=SKIPPED_OPERATIONS)


@pytest.fixture
def in_process_requests():
    """Django closes the connection after each request, which ends the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _turn(user, pk: int) -> Message:
    """A conversation with one turn, whose reply is to hold a card and an action card."""
    conversation = Conversation.objects.create(pk=pk, owner=user)
    return chat_message_create(conversation=conversation, text="3 beds in Austin?")[1]


def _finish_at(reply: Message, pk: int) -> None:
    # Moved to the known id before anything refers to it, and after every insert: SQLite
    # numbers the next row after the highest id in the table.
    email = {"action": "send_email", "summary": "Email me",
             "params": {"to": ["a@example.com"], "subject": "Hello"}}  # fmt: skip
    raw = f"One: {block(LISTING)} {block(email, 'action_request')}"
    Message.objects.filter(pk=reply.pk).update(id=pk, raw=raw, status=Message.Status.DONE)


def _dataset(pk: int) -> Dataset:
    dataset = Dataset.objects.create(pk=pk, name="fuzz", source="import")
    for position, row_id in enumerate(f"fuzz-{n}" for n in range(6)):
        DatasetRow.objects.create(
            dataset=dataset,
            row_id=row_id,
            split=stable_split(row_id),
            messages=[
                {"role": "user", "content": "3 beds in Austin?"},
                {"role": "assistant", "content": f"One: {block(LISTING)}"},
            ],
            context={"listings": [LISTING]},
            position=position,
        )
    assert dataset.rows.filter(split="train").exists()
    return dataset


@pytest.fixture
def api_world(staff_user, plain_user, demo_registry, scripted, in_process_requests):
    Token.objects.create(user=staff_user, key=STAFF_TOKEN)
    Token.objects.create(user=plain_user, key=PLAIN_TOKEN)
    replies = {STAFF_PK: _turn(staff_user, STAFF_PK), PLAIN_PK: _turn(plain_user, PLAIN_PK)}
    for pk, reply in replies.items():
        _finish_at(reply, pk)
    Correction.objects.create(pk=STAFF_PK, message_id=PLAIN_PK, raw=f"Two: {block(LISTING)}")
    dataset = _dataset(STAFF_PK)
    FinetuneJob.objects.create(
        pk=STAFF_PK, name="fuzz", dataset=dataset, config=TrainConfig().as_dict()
    )


@pytest.mark.slow  # about 2 minutes on one core, both users
@pytest.mark.django_db
@schemathesis.pytest.parametrize(staff=_schema(STAFF_TOKEN), plain=_schema(PLAIN_TOKEN))
# The fixtures' rows are shared by an operation's cases on purpose: one database per operation.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_schema(case, api_world):
    case.call_and_validate()
