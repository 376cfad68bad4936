"""Every kind of page in Chromium, checked two ways: the console stays clean (no
Content-Security-Policy violation, no error, no uncaught exception) and axe-core finds no
serious or critical accessibility violation.

axe-core's script ships inside axe-playwright-python and is evaluated into the page through
Playwright, which the page's policy does not govern; it fetches nothing. The chat's replies
come from the scripted backend, through the real parser, renderer and SSE stream.
"""

import base64
import json
import re
import threading

import pytest
from axe_playwright_python.sync_playwright import Axe

from demo.models import Listing
from demo.services import crm_actions_grant, crm_fixture_load
from finetune.models import Adapter, FinetuneJob
from serving.backend import TextDelta
from tests.browser import console_errors, log_in
from tests.chat.conftest import LISTING, block
from widgets.models import WidgetSchemaVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AXE = Axe()
# No preload: axe would fetch the page's stylesheets and insert them as inline <style>
# elements, which the policy rightly refuses (only its css-orientation-lock rule needs them).
AXE_OPTIONS = {"resultTypes": ["violations"], "preload": False}


def assert_accessible(page, where: str) -> None:
    violations = [
        v
        for v in AXE.run(page, options=AXE_OPTIONS).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    "
        + "\n    ".join(node["html"][:160] for node in v["nodes"][:5])
        for v in violations
    )
    assert not violations, f"{where}:\n{report}"


def assert_clean_console(errors: list[str], where: str, expected: str = "") -> None:
    """No errors but those matching `expected`: a refusal the test asked for (Chromium logs
    every 4xx answer to a fetch)."""
    csp = [e for e in errors if "Content Security Policy" in e]
    assert not csp, f"{where} breaks the Content-Security-Policy:\n" + "\n".join(csp)
    errors = [e for e in errors if not (expected and re.search(expected, e))]
    assert not errors, f"{where} logged errors:\n" + "\n".join(errors)


# A 1x1 PNG for every https: image (the demo's listing photos): the policy allows them, and
# the test machine has no network to fetch them from.
PHOTO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
def new_page(browser):
    contexts = []

    def open_page(width=1000, height=800):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.route(
            re.compile(r"^https://"),
            lambda route: route.fulfill(status=200, content_type="image/png", body=PHOTO),
        )
        contexts.append(context)
        page = context.new_page()
        return page, console_errors(page)

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def held_reply(scripted, monkeypatch):
    """The scripted reply stops after the text before `hold_at` until the test releases it,
    so a card can be looked at while it streams."""
    release = threading.Event()
    state = {"hold_at": None}
    play = scripted.stream

    def stream(*args, **kwargs):
        items = play(*args, **kwargs)

        def held():
            seen = ""
            for item in items:
                yield item
                if isinstance(item, TextDelta):
                    seen += item.text
                    if state["hold_at"] and state["hold_at"] in seen:
                        release.wait(timeout=60)

        return held()

    monkeypatch.setattr(scripted, "stream", stream)
    yield state, release
    release.set()


def start_chat(new_page, server):
    page, errors = new_page(390, 844)  # a phone, as the chat's own browser tests use
    log_in(page, server, "agent", "pw-agent-123")
    page.click("text=Start a conversation")
    page.wait_for_selector("#composer-text")
    return page, errors


def send(page, text):
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")


def wait_done(page):
    page.wait_for_selector('.msg--assistant[data-status="done"]')


# ---------------------------------------------------------------- pages anyone sees


def test_login_page(new_page, server, plain_user):
    page, errors = new_page()
    page.goto(server + "/accounts/login/")
    assert_accessible(page, "login")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    page.wait_for_selector(".alert")
    assert_accessible(page, "login after a wrong password")
    assert_clean_console(errors, "login")


def test_chat_card_streaming_then_finished_is_announced_politely(
    new_page, server, plain_user, scripted, held_reply
):
    crm_fixture_load()
    hold, release = held_reply
    hold["hold_at"] = '"beds"'  # inside the card: its skeleton is on the page
    page, errors = start_chat(new_page, server)
    assert_accessible(page, "empty conversation")
    scripted.enqueue(f"Two homes fit your budget:\n{block(LISTING)}\nWant a tour?", chunk_size=3)
    send(page, "anything 3 bed in Austin under 500k?")

    page.wait_for_selector('article[data-widget-type="listing_card"][data-outcome="streaming"]')
    answer = page.locator(".msg--assistant .msg__body")
    assert answer.get_attribute("aria-live") == "polite"
    assert answer.get_attribute("aria-busy") == "true"
    assert_accessible(page, "a card streaming")

    release.set()
    wait_done(page)
    page.wait_for_selector('article[data-widget-type="listing_card"][data-outcome="valid"]')
    assert answer.get_attribute("aria-busy") == "false"
    assert_accessible(page, "the finished card")

    page.reload()  # the same reply, rendered by the server
    assert page.locator(".msg--assistant .msg__body").get_attribute("aria-busy") == "false"
    assert_accessible(page, "the reloaded conversation")
    assert_clean_console(errors, "the chat")


def test_fallback_card(new_page, server, plain_user, scripted, demo_registry):
    page, errors = start_chat(new_page, server)
    scripted.enqueue('Before. <widget type="listing_card">{"mls_id": }</widget> After the card.')
    send(page, "anything?")
    wait_done(page)
    page.locator('article[data-outcome="malformed"] summary').click()  # the raw text, open
    assert_accessible(page, "a fallback card")
    assert_clean_console(errors, "the chat with a fallback card")


def test_action_card_confirmed(new_page, server, plain_user, scripted, demo_registry):
    crm_fixture_load()
    crm_actions_grant(user=plain_user)
    listing = Listing.objects.filter(status="active").first()
    action = {"action": "update_listing_status", "summary": f"Mark {listing.address} as pending",
              "params": {"mls_id": listing.mls_id, "status": "pending"}}  # fmt: skip
    page, errors = start_chat(new_page, server)
    scripted.enqueue(f"I can do that once you confirm: {block(action, 'action_request')}")
    send(page, f"mark {listing.address} as pending")
    wait_done(page)
    assert_accessible(page, "an action card")
    page.click("[data-feedback='1']")
    page.wait_for_selector(".msg__comment:not([hidden])")
    page.click("article[data-widget-type='action_request'] >> text=Confirm")
    page.wait_for_selector(".msg__actions-log li[data-status='done']")
    assert_accessible(page, "an action card, confirmed, with the feedback comment open")
    assert_clean_console(errors, "the chat with an action card")


def test_correction_editor_open(new_page, server, plain_user, scripted, demo_registry):
    page, errors = start_chat(new_page, server)
    scripted.enqueue(f"Here: {block({**LISTING, 'price': 'cheap'})}")
    send(page, "price of 12 Oak St?")
    wait_done(page)
    page.click("text=Correct this answer")
    page.wait_for_function("() => document.querySelector('.msg__editor textarea').value")
    page.locator(".msg__editor textarea").fill(f"Here: {block({**LISTING, 'beds': 'three'})}")
    page.click("text=Save correction")
    page.wait_for_selector(".msg__editor-errors li")
    assert_accessible(page, "the correction editor with its errors")
    invalid = r"status of 400 \(Bad Request\) \(\S+/api/messages/\d+/corrections/\)$"
    assert_clean_console(errors, "the correction editor", expected=invalid)


# ---------------------------------------------------------------- staff pages


def staff_page(new_page, server):
    page, errors = new_page()
    log_in(page, server, "staff", "pw-staff-123")
    return page, errors


def test_widget_admin_pages(new_page, server, staff_user, demo_registry):
    version = WidgetSchemaVersion.objects.get(widget__name="listing_card", is_active=True)
    page, errors = staff_page(new_page, server)
    page.goto(f"{server}/admin/widgets/widgetschemaversion/{version.pk}/change/")
    page.wait_for_selector(".weft-preview article")
    assert_accessible(page, "a version's preview page")
    page.goto(f"{server}/admin/widgets/widgetschemaversion/add/?widget={version.widget.pk}")
    page.wait_for_selector("#weft-preview article")  # the live preview, drawn by script
    assert_accessible(page, "the new-version page with its live preview")
    for path in (
        "/admin/",
        "/admin/widgets/widgettype/",
        f"/admin/widgets/widgettype/{version.widget.pk}/change/",
    ):
        page.goto(server + path)
    assert_clean_console(errors, "the widget admin")


def test_fine_tuning_job_page(new_page, server, staff_user):
    from finetune.datasets import dataset_import
    from finetune.jobs import finetune_job_start

    text = "\n".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                 {"role": "assistant", "content": f"a{i}"}]})
        for i in range(12)
    )  # fmt: skip
    job = finetune_job_start(
        dataset=dataset_import(name="tiny", text=text), name="tiny", config={}, enqueue=False
    )
    history = [{"step": s, "loss": 2.0 - s * 0.1, "eval_loss": None} for s in range(1, 7)]
    FinetuneJob.objects.filter(pk=job.pk).update(
        status="running", step=6, total_steps=12, loss=1.4, history=history
    )
    page, errors = staff_page(new_page, server)
    page.goto(f"{server}/finetune/jobs/{job.pk}/")
    page.wait_for_function("() => document.querySelectorAll('#curve .dot--train').length === 6")
    assert_accessible(page, "the job page")
    for path in ("/finetune/", f"/finetune/datasets/{job.dataset.pk}/"):
        page.goto(server + path)
        assert_accessible(page, path)
    assert_clean_console(errors, "the fine-tuning pages")


def test_evaluations_comparison_page(
    new_page, server, staff_user, demo_registry, scripted, tmp_path
):
    from tests.finetune.test_evals import INVALID, PERFECT, evaluate, small_dataset

    dataset = small_dataset()
    free = evaluate(scripted, dataset, INVALID, constrained=False)
    evaluate(scripted, dataset, PERFECT)
    folder = tmp_path / "small-v1"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    adapter = Adapter.objects.create(
        name="small-v1", dataset=dataset, path=str(folder), manual_prompt=False
    )
    page, errors = staff_page(new_page, server)
    page.goto(f"{server}/finetune/evals/?dataset={dataset.pk}&adapter={adapter.name}")
    page.wait_for_selector("#comparison svg, figure svg")
    assert_accessible(page, "the evaluations comparison")
    page.goto(f"{server}/finetune/evals/runs/{free.pk}/")
    page.wait_for_selector(".case")
    assert_accessible(page, "an evaluation's failing cases")
    assert_clean_console(errors, "the evaluation pages")
