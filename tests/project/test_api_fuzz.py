"""Fuzz every operation of /api/schema/ against the app itself, with every schemathesis check.

The schema is the contract: a request it allows must be accepted, one it forbids refused, and
every answer must be a status and body it documents. Runs in-process (WSGI), once as staff and
once as a plain user, each with a token. Derandomised with a fixed seed so CI sees the same
cases every run.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from project.wsgi import application

SEED = 20250611
MAX_EXAMPLES = 25  # per operation and generation mode; the coverage phase adds its own cases
# The reply stream is SSE: an endless body no check can read whole (tests/chat test it).
SKIPPED_OPERATIONS = ["messages_stream"]
# Requests whose content is judged beyond what any OpenAPI schema can say, so a schema-valid
# one may be refused (400), which is right: a widget's JSON Schema must itself be valid and
# its examples and grounded fields must fit it (widgets.version_checks, widgets.grounding).
CONTENT_CHECKED_OPERATIONS = ["widgets_create", "widgets_versions_create"]
STAFF_TOKEN = "fuzz-staff-" + "0" * 29  # 40 characters, as DRF's tokens
PLAIN_TOKEN = "fuzz-plain-" + "0" * 29


def _schema(token: str):
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # Stateful runs chain operations through links, which the schema does not declare.
            "phases": {"stateful": {"enabled": False}},
            "auth": {"openapi": {"tokenAuth": {"api_key": f"Token {token}"}}},
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


@pytest.fixture
def api_users(staff_user, plain_user, demo_registry, scripted, in_process_requests):
    Token.objects.create(user=staff_user, key=STAFF_TOKEN)
    Token.objects.create(user=plain_user, key=PLAIN_TOKEN)


@pytest.mark.django_db
@schemathesis.pytest.parametrize(staff=_schema(STAFF_TOKEN), plain=_schema(PLAIN_TOKEN))
# The fixtures' rows are shared by an operation's cases on purpose: one database per operation.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_schema(case, api_users):
    case.call_and_validate()
