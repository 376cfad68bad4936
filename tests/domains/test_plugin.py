"""A domain outside Weft's code, plugged in through WEFT_DOMAIN: the help desk of
tests/domains/helpdesk (one action widget, one action, its own context)."""

import json
import threading

import pytest
from django.core.management import call_command

from chat.models import ActionRun, Message
from chat.replies import reply_events
from tests.domains import helpdesk
from widgets.models import WidgetType

pytestmark = pytest.mark.django_db

HELPDESK = "tests.domains.helpdesk:HELPDESK"


def refund(order: str) -> str:
    payload = {"action": "refund", "params": {"order_id": order}}
    return f'<widget type="refund_offer">{json.dumps(payload)}</widget>'


@pytest.fixture
def desk(settings):
    settings.WEFT_DOMAIN = HELPDESK
    helpdesk.HELPDESK.refunded.clear()
    call_command("load_domain")
    yield helpdesk.HELPDESK
    helpdesk.HELPDESK.refunded.clear()


@pytest.fixture
def post(user_api, plain_user):
    conversation = user_api.post("/api/conversations/", {}, format="json").json()

    def send(text: str) -> dict:
        response = user_api.post(
            f"/api/conversations/{conversation['id']}/messages/", {"text": text}, format="json"
        )
        assert response.status_code == 201, response.json()
        return response.json()[1]

    return send


def test_load_domain_puts_only_its_widgets_in_the_registry_and_is_idempotent(desk, capsys):
    assert list(WidgetType.objects.values_list("name", "is_action", "grounded_fields")) == [
        ("refund_offer", True, ["order_id"])
    ]
    capsys.readouterr()
    call_command("load_domain")
    assert "widget refund_offer: unchanged" in capsys.readouterr().out
    assert WidgetType.objects.get().versions.count() == 1


def test_a_turn_stores_the_domains_context_and_confirm_runs_its_action(
    desk, post, user_api, plain_user, scripted
):
    reply = post("Please refund A-100, it arrived broken")
    stored = Message.objects.get(pk=reply["id"])
    assert stored.context == {"orders": [{"order_id": "A-100", "total": 20.0}], "asked_by": "agent"}

    scripted.enqueue(f"I can refund that order.\n{refund('A-100')}")
    events = list(reply_events(stored.pk, cancel=threading.Event()))
    assert events[-1]["event"] == "done"
    assert "data-action-card" in events[-1]["html"]  # the registry file marked it an action

    url = f"/api/messages/{stored.pk}/actions/0/"
    response = user_api.post(url, {"decision": "confirm"}, format="json")
    assert response.status_code in (200, 201), response.json()
    assert response.json()["outcome"] == "Refunded order A-100 ($20.00)."
    assert desk.refunded == [("A-100", plain_user)]
    run = ActionRun.objects.get()
    assert (run.action, run.status) == ("refund", "done")


def test_a_refusal_is_shown_as_a_failed_action(desk, post, user_api, scripted):
    reply = post("refund A-999 please")
    scripted.enqueue(refund("A-999"))
    list(reply_events(reply["id"], cancel=threading.Event()))
    response = user_api.post(
        f"/api/messages/{reply['id']}/actions/0/", {"decision": "confirm"}, format="json"
    )
    body = response.json()
    assert (body["status"], body["outcome"]) == ("failed", "There is no order A-999 to refund.")
    assert desk.refunded == []


def test_a_card_of_a_widget_not_marked_action_cannot_be_confirmed(desk, post, user_api, scripted):
    WidgetType.objects.filter(name="refund_offer").update(is_action=False)
    reply = post("refund A-100")
    scripted.enqueue(refund("A-100"))
    list(reply_events(reply["id"], cancel=threading.Event()))
    response = user_api.post(
        f"/api/messages/{reply['id']}/actions/0/", {"decision": "confirm"}, format="json"
    )
    assert response.status_code == 404 and desk.refunded == []


def test_the_readme_example_domain_works_as_written(settings, tmp_path, monkeypatch, plain_user):
    """The README's minimal domain, copied out of the README, loaded and called."""
    from pathlib import Path

    from domains.calls import run_action, turn_context
    from domains.protocol import ActionRefused

    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own domain", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    widget = section.split("```json\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) + len(widget.splitlines()) < 60
    (tmp_path / "shop" / "widgets").mkdir(parents=True)
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "assistant.py").write_text(code)
    (tmp_path / "shop" / "widgets" / "refund_offer.json").write_text(widget)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.WEFT_DOMAIN = "shop.assistant:SHOP"

    call_command("load_domain")
    call_command("load_domain")  # idempotent
    widget_type = WidgetType.objects.get()
    assert (widget_type.name, widget_type.is_action, widget_type.versions.count()) == (
        "refund_offer", True, 1,
    )  # fmt: skip
    context = turn_context(question="refund A-100", history=[], user=plain_user)
    assert context == {"orders": [{"order_id": "A-100", "total": 20.0}]}
    params = {"order_id": "A-100"}
    assert run_action(action="refund", params=params, user=plain_user) == "Refunded order A-100."
    with pytest.raises(ActionRefused):
        run_action(action="refund", params={"order_id": "B-1"}, user=plain_user)
