"""Browser test fixtures: Debian's Chromium through Playwright, uvicorn serving the ASGI app.

uvicorn runs in a thread of the test process, so the page and the test share one set of
settings (the test database, the scripted backend). Import the fixtures into a test module.
"""

import os
import socket
import threading
import time

import pytest
import uvicorn

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")  # torn down with the module: its event loop blocks async tests
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop running in this thread, which Django takes
    # for async code; the test's own ORM calls are plain sync code (pytest-playwright's advice).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def server(transactional_db, demo_registry):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        "project.asgi:application", host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def console_errors(page) -> list[str]:
    """What `page` reports as errors from now on: console errors (Chromium logs each
    Content-Security-Policy violation as one) and uncaught exceptions. Weft has no favicon,
    and the 404 Chromium logs for the one it asks for on its own is left out."""
    errors: list[str] = []

    def on_console(message):
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{message.text} ({url or page.url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    return errors


def log_in(page, server: str, username: str, password: str) -> None:
    page.goto(server + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
