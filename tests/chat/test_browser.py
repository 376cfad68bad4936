"""The web chat in Debian's Chromium, driven by Playwright, against uvicorn serving the ASGI app.

uvicorn runs in a thread of the test process, so the page, the SSE stream and the test share
one set of settings (the test database, the scripted backend). The scripted backend streams
given text through the real parser, renderer and SSE path; one test uses the real model.
"""

import json

import pytest

from chat.models import Correction, Feedback, Message
from demo.models import Listing
from demo.services import crm_actions_grant, crm_fixture_load
from tests.chat.conftest import LISTING, block

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHOTO = "https://photos.example.com/tx-10492/front.jpg"


@pytest.fixture
def page(browser, server, plain_user):
    crm_actions_grant(user=plain_user)  # an agent who may run every CRM action
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(server + "/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "pw-agent-123")
    page.click("button[type=submit]")
    page.click("text=Start a conversation")
    page.wait_for_selector("#composer-text")
    yield page
    context.close()


def send(page, text):
    # Record every data-outcome the thread shows, to see the card stream in.
    page.evaluate(
        """() => {
        window.__outcomes = [];
        new MutationObserver(() => {
          document.querySelectorAll('#thread [data-outcome]').forEach(el => {
            const o = el.dataset.outcome;
            if (window.__outcomes[window.__outcomes.length - 1] !== o) window.__outcomes.push(o);
          });
        }).observe(document.getElementById('thread'),
                   {subtree: true, childList: true, attributes: true});
      }"""
    )
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")  # the keyboard path: Enter sends


def wait_done(page):
    page.wait_for_selector(
        '.msg--assistant[data-status="done"], .msg--assistant[data-status="failed"]'
    )


def test_a_reply_streams_in_as_a_card(page, scripted):
    crm_fixture_load()
    scripted.enqueue(f"Two homes fit your budget:\n{block(LISTING)}\nWant a tour?", chunk_size=3)
    send(page, "anything 3 bed in Austin under 500k?")
    card = page.wait_for_selector('article[data-widget-type="listing_card"][data-outcome="valid"]')
    wait_done(page)
    assert "$449,000" in card.inner_text()
    assert page.locator(".msg--assistant p").first.inner_text() == "Two homes fit your budget:"
    outcomes = page.evaluate("window.__outcomes")
    assert outcomes[:2] == ["streaming", "valid"], outcomes  # a skeleton first, then the card
    assert page.locator(".msg--user").inner_text() == "anything 3 bed in Austin under 500k?"
    reply = Message.objects.get(role="assistant")
    assert reply.status == "done" and reply.context["listings"]


def test_hostile_reply_executes_nothing(page, scripted):
    hostile = (
        "<script>window.__xss = 1; alert(1)</script> "
        '<img src=x onerror="window.__xss = 2; alert(2)"> '
        "[click me](javascript:window.__xss=3) "
        + block(
            {
                **LISTING,
                "address": '<img src=x onerror="alert(4)">',
                "photo_url": PHOTO,
            }
        )
        + block('{"mls_id": "<svg onload=alert(6)>"}', "no_such_widget")
    )
    scripted.enqueue(hostile, chunk_size=5)
    send(page, "show me something")
    wait_done(page)
    page.wait_for_timeout(300)
    assert page.dialogs == []
    assert page.evaluate("window.__xss") is None
    thread = page.locator("#thread")
    assert thread.locator("script").count() == 0
    assert thread.locator("[onerror], [onload]").count() == 0
    assert thread.locator("a[href^='javascript']").count() == 0
    assert thread.locator("img").count() == 1  # the card's photo; the address stayed text
    assert thread.locator("img").get_attribute("src") == PHOTO
    assert "<script>window.__xss" in thread.inner_text()  # shown as text, not run
    assert page.locator('[data-outcome="valid"]').count() == 1
    assert page.locator('[data-outcome="unknown_type"]').count() == 1


def test_malformed_widget_shows_a_fallback_card_and_the_rest_of_the_reply(page, scripted):
    scripted.enqueue('Before. <widget type="listing_card">{"mls_id": }</widget> After the card.')
    send(page, "anything?")
    page.wait_for_selector('article[data-outcome="malformed"]')
    wait_done(page)
    # A locator, not the element seen while streaming: the finished reply is rendered anew.
    fallback = page.locator('article[data-outcome="malformed"]')
    assert "is not one JSON object" in fallback.inner_text()
    assert page.locator("text=After the card.").is_visible()
    fallback.locator("summary").click()
    assert '{"mls_id": }' in fallback.inner_text()


def test_correct_an_answer_in_the_editor(page, scripted):
    scripted.enqueue(f"Here: {block({**LISTING, 'price': 'cheap'})}")
    send(page, "price of 12 Oak St?")
    wait_done(page)
    page.click("text=Correct this answer")
    page.wait_for_function("() => document.querySelector('.msg__editor textarea').value")
    editor = page.locator(".msg__editor textarea")
    assert "cheap" in editor.input_value()
    editor.fill(f"Here: {block({**LISTING, 'beds': 'three'})}")
    page.click("text=Save correction")
    assert "/beds" in page.wait_for_selector(".msg__editor-errors li").inner_text()
    editor.fill(f"Here it is: {block(LISTING)}")
    page.click("text=Save correction")
    page.wait_for_selector(".msg__corrected:not([hidden])")
    correction = Correction.objects.get()
    assert correction.raw.startswith("Here it is:") and "cheap" in correction.message.raw


def test_feedback_and_confirming_an_action(page, scripted):
    crm_fixture_load()
    listing = Listing.objects.filter(status="active").first()
    action = {"action": "update_listing_status", "summary": f"Mark {listing.address} as pending",
              "params": {"mls_id": listing.mls_id, "status": "pending"}}  # fmt: skip
    scripted.enqueue(f"I can do that once you confirm: {block(action, 'action_request')}")
    send(page, f"mark {listing.address} as pending")
    wait_done(page)
    listing.refresh_from_db()
    assert listing.status == "active"  # nothing runs without the click
    page.click("[data-feedback='1']")
    page.wait_for_selector("[data-feedback='1'][aria-pressed='true']")
    page.click("article[data-widget-type='action_request'] >> text=Confirm")
    outcome = page.wait_for_selector(".msg__actions-log li[data-status='done']")
    assert "now pending" in outcome.inner_text()
    listing.refresh_from_db()
    assert listing.status == "pending"
    assert Feedback.objects.get().rating == 1


def test_backend_failure_shows_an_error_and_keeps_the_message(page, scripted):
    from serving.backend import BackendUnavailable

    scripted.enqueue_error(BackendUnavailable("The model server is not answering."))
    send(page, "hello?")
    error = page.wait_for_selector(".msg__error:not([hidden])")
    assert "not answering" in error.inner_text()
    assert page.locator(".msg--user").inner_text() == "hello?"
    page.reload()
    assert page.locator(".msg--user").inner_text() == "hello?"


def test_a_reply_cut_off_by_a_server_error_says_so_and_still_does_after_a_reload(
    page, scripted, progress_saves_fail
):
    scripted.enqueue("Two fit the brief and both are near schools.", chunk_size=5)
    send(page, "anything near schools?")
    page.wait_for_selector('.msg--assistant[data-status="partial"]')
    error = page.locator(".msg--assistant .msg__error")
    assert error.is_visible() and "server error (OperationalError)" in error.inner_text()
    assert "Two f" in page.locator(".msg--assistant .msg__body").inner_text()
    page.reload()
    error = page.wait_for_selector('.msg--assistant[data-status="partial"] .msg__error')
    assert error.is_visible() and "server error (OperationalError)" in error.inner_text()


@pytest.mark.slow
def test_the_real_model_answers_in_the_browser(page, settings):
    settings.WEFT_BACKEND = "local"
    settings.WEFT_CHAT_MAX_TOKENS = 48
    crm_fixture_load()
    send(page, "anything 3 bed in Austin under 500k?")
    page.wait_for_selector('.msg--assistant[data-status="done"]', timeout=240_000)
    reply = Message.objects.get(role="assistant")
    assert reply.status == "done", reply.error
    assert reply.raw.strip() and reply.completion_tokens
    body = page.locator(".msg--assistant .msg__body")
    assert body.inner_text().strip()
    # Whatever the model wrote, every block it opened is on the page with its outcome.
    assert body.locator("[data-outcome]").count() == len(reply.blocks)
    print("real model reply:", json.dumps(reply.raw)[:300])
