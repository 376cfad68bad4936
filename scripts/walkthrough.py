"""The demo, walked in Chromium against a running server: what a person does after demo.sh.

    .venv/bin/python scripts/walkthrough.py [--url http://127.0.0.1:8000] [--model demo-v1]

Logs in as `demo`, asks "anything 3 bed in Austin under 500k?" and watches the reply stream
in, rates it, asks to book the earliest showing at the first listing it showed, confirms the
action card, and corrects an answer in the editor. Every step is checked on the page (a card
with data-outcome="valid", the action log saying done) and screenshotted to
data/walkthrough/. It drives the served model, whatever it is: with the base model the search
may come back as prose, and the walk stops there with the reason.

Exits 0 when every step worked, 1 with the step that did not.
"""

import argparse
import re
import sys
import time
from pathlib import Path

from playwright.sync_api import Error as PageError
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "data" / "walkthrough"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUESTION = "anything 3 bed in Austin under 500k?"
REPLY_TIMEOUT_MS = 600_000  # a CPU backend, maybe busy with other work


class WalkFailed(Exception):
    pass


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def ask(page: Page, text: str) -> object:
    """Send `text` and wait for its reply to finish; the reply's locator, or WalkFailed."""
    before = page.locator(".msg--assistant").count()
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    reply = page.locator(".msg--assistant").nth(before)
    reply.wait_for()
    page.wait_for_function(
        "n => { const m = document.querySelectorAll('.msg--assistant')[n];"
        " return m && ['done', 'failed'].includes(m.dataset.status); }",
        arg=before,
        timeout=REPLY_TIMEOUT_MS,
    )
    if reply.get_attribute("data-status") != "done":
        raise WalkFailed(f"the reply to {text!r} failed: {reply.inner_text()[:300]}")
    return reply


def walk(page: Page, url: str, model: str | None) -> list[str]:
    done = []
    page.goto(url + "/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.click("form[action$='/new/'] button")  # "Start a conversation" or "New conversation"
    page.wait_for_selector("#composer-text")
    if model:
        page.select_option("#composer-model", model)
    done.append(f"logged in as demo; model {page.input_value('#composer-model')}")

    started = time.monotonic()
    reply = ask(page, QUESTION)
    shoot(page, "1-search")
    cards = reply.locator('article[data-widget-type="listing_card"][data-outcome="valid"]')
    if cards.count() == 0:
        raise WalkFailed(f"no valid listing card for {QUESTION!r}: {reply.inner_text()[:300]}")
    seconds = time.monotonic() - started
    done.append(f"asked {QUESTION!r}: {cards.count()} listing cards in {seconds:.0f} s")

    reply.locator("[data-feedback='1']").click()
    page.wait_for_selector(".msg--assistant [data-feedback='1'][aria-pressed='true']")
    done.append("rated the reply up")

    address = cards.first.locator(".weft-card__title").inner_text().strip()
    booking = ask(page, f"book the earliest showing at {address}")
    shoot(page, "2-action")
    action = booking.locator('article[data-widget-type="action_request"][data-outcome="valid"]')
    if action.count() == 0:
        raise WalkFailed(f"no valid action card for the booking: {booking.inner_text()[:300]}")
    action.first.locator("text=Confirm").click()
    log = booking.locator(".msg__actions-log li")
    log.first.wait_for()
    page.wait_for_function("el => el.dataset.status !== 'running'", arg=log.first.element_handle())
    shoot(page, "3-confirmed")
    if log.first.get_attribute("data-status") != "done":
        raise WalkFailed(f"the action did not run: {log.first.inner_text()}")
    done.append(f"booked at {address} and confirmed: {log.first.inner_text().strip()}")

    booking.locator("text=Correct this answer").click()
    editor = booking.locator(".msg__editor textarea")
    page.wait_for_function("el => el.value.length > 0", arg=editor.element_handle())
    raw = editor.input_value()
    corrected = re.sub(r"^[^<]*", "Confirm and I'll book it:\n", raw, count=1)
    editor.fill(corrected)
    booking.locator("text=Save correction").click()
    page.wait_for_selector(".msg__corrected:not([hidden])")
    shoot(page, "4-corrected")
    done.append("corrected the booking reply's first sentence in the editor")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--model", help="pick this model in the selector (default: the page's)")
    args = parser.parse_args()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on("dialog", lambda dialog: dialog.dismiss())
        try:
            steps = walk(page, args.url.rstrip("/"), args.model)
        except (WalkFailed, PageError) as exc:  # PageError: timeouts, no server at --url
            shoot(page, "failed")
            print(f"walkthrough: FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            browser.close()
    for step in steps:
        print(f"ok  {step}")
    print(f"screenshots: {SHOTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
