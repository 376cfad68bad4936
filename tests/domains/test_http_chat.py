"""The HTTP domain behind the chat: a host that fails leaves the user's message and a failed
reply that says why; a host that answers runs the turn and the confirmed action."""

import json
import threading

import pytest

from chat.models import ActionRun, Message
from chat.replies import reply_events
from tests.domains.helpdesk import HELPDESK
from tests.domains.test_http import Reply, host  # noqa: F401 - the host fixture

pytestmark = pytest.mark.django_db


class _Selected:
    """WEFT_DOMAIN names this; each test points it at its own host's HttpDomain."""

    target = None

    @property
    def name(self):
        return self.target.name

    @property
    def widgets_dir(self):
        return self.target.widgets_dir

    def context(self, **kwargs):
        return self.target.context(**kwargs)

    def run_action(self, **kwargs):
        return self.target.run_action(**kwargs)


SELECTED = _Selected()


@pytest.fixture
def acme(settings, host):  # noqa: F811 - pytest's fixture by name
    from django.core.management import call_command

    SELECTED.target = host.domain(widgets_dir=HELPDESK.widgets_dir)
    settings.WEFT_DOMAIN = "tests.domains.test_http_chat:SELECTED"
    call_command("load_domain", verbosity=0)
    yield host
    SELECTED.target = None


@pytest.fixture
def send(user_api):
    conversation = user_api.post("/api/conversations/", {}, format="json").json()

    def post(text):
        response = user_api.post(
            f"/api/conversations/{conversation['id']}/messages/", {"text": text}, format="json"
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return post


def test_a_host_error_keeps_the_message_and_fails_the_reply_with_its_reason(acme, send):
    acme.reply = Reply(500, {"error": "boom"})
    question, reply = send("refund A-100")
    assert Message.objects.get(pk=question["id"]).raw == "refund A-100"
    stored = Message.objects.get(pk=reply["id"])
    assert stored.status == Message.Status.FAILED and stored.raw == ""
    assert stored.error.startswith("acme answered with an error (HTTP 500)")
    events = list(reply_events(stored.pk, cancel=threading.Event()))
    assert [e["event"] for e in events] == ["error"]


def test_a_host_that_answers_runs_the_turn_and_the_action(acme, send, user_api, scripted):
    acme.reply = Reply(200, {"orders": [{"order_id": "A-100", "total": 20}]})
    _, reply = send("refund A-100")
    stored = Message.objects.get(pk=reply["id"])
    assert stored.context == {"orders": [{"order_id": "A-100", "total": 20}]}
    payload = {"action": "refund", "params": {"order_id": "A-100"}}
    scripted.enqueue(f'<widget type="refund_offer">{json.dumps(payload)}</widget>')
    list(reply_events(stored.pk, cancel=threading.Event()))
    acme.reply = Reply(200, {"outcome": "Refunded A-100."})
    response = user_api.post(
        f"/api/messages/{stored.pk}/actions/0/", {"decision": "confirm"}, format="json"
    )
    assert response.json()["outcome"] == "Refunded A-100."
    action_call = json.loads(acme.requests[-1].body)
    assert (action_call["action"], action_call["params"]) == ("refund", payload["params"])
    assert ActionRun.objects.get().status == "done"
