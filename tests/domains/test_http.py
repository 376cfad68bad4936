"""The HTTP domain against a real host: a ThreadingHTTPServer on 127.0.0.1 that checks every
request's signature with the shared secret, then answers as each test scripts it."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

import domains.http
from domains.http import (
    AFTERMATH,
    FAILURES,
    HostFailure,
    HttpDomain,
    HttpDomainFromSettings,
    sign,
    verify,
)
from domains.protocol import ActionRefused, Domain, DomainUnavailable

REPO = Path(__file__).resolve().parents[2]
SECRET = "whsec_test"
TIMEOUT_S = 0.3  # the domain's deadline in the slow-host tests
LATE_S = 1.0  # a deadline-respecting domain has given up well before this

CONTEXT_KEPT = "Your message is kept: try again later."
NOT_RUN = "Nothing was done: try again later."
MAY_HAVE_RUN = "It may have run: check in acme before trying again."
NO_OUTCOME = 'acme answered without an "outcome" sentence.'


# --- the host -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=dict)  # bytes go as they are; anything else as JSON
    delay_s: float = 0  # before anything is sent
    head_drip_s: float = 0  # between the bytes of the status line and headers
    body_drip_s: float = 0  # between the bytes of the body
    declared_length: int | None = None  # a Content-Length other than the body's
    hang_up: bool = False  # close the connection without answering

    def body_bytes(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Host:
    def __init__(self, server: ThreadingHTTPServer):
        self.server = server
        self.reply = Reply()
        self.requests: list[Received] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()  # wakes handlers that are sleeping or dripping

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def domain(self, **overrides) -> HttpDomain:
        options = {
            "name": "acme",
            "context_url": self.url("/context"),
            "action_url": self.url("/action"),
            "secret": SECRET,
            "widgets_dir": Path("/nonexistent/widgets"),
            "timeout_s": TIMEOUT_S,
        }
        return HttpDomain(**(options | overrides))


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        host: Host = self.server.host
        body = self.rfile.read(int(self.headers["Content-Length"]))
        host.requests.append(Received(self.path, dict(self.headers), body))
        signature = self.headers.get("X-Weft-Signature", "")
        if verify(SECRET, body, signature, now=time.time()):
            reply = host.reply
        else:
            reply = Reply(401, {"error": "bad signature"})
        try:
            self._answer(reply, host.stopping)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the domain gave up, as the slow tests want it to

    def _answer(self, reply: Reply, stopping: threading.Event) -> None:
        if stopping.wait(reply.delay_s) or reply.hang_up:
            return
        body = reply.body_bytes()
        length = len(body) if reply.declared_length is None else reply.declared_length
        head = (
            f"HTTP/1.0 {reply.status} Scripted\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        for part, pause in ((head, reply.head_drip_s), (body, reply.body_drip_s)):
            if not pause:
                self.wfile.write(part)
                continue
            for index in range(len(part)):
                self.wfile.write(part[index : index + 1])
                if stopping.wait(pause):
                    return

    def log_message(self, format, *args):  # quiet: pytest shows failures, not access logs
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        self.host.errors.append(sys.exc_info()[1])


@pytest.fixture
def host():
    server = _Server(("127.0.0.1", 0), _Handler)
    server.host = Host(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server.host
    server.host.stopping.set()
    server.shutdown()
    server.server_close()  # joins the handler threads
    thread.join()
    assert server.host.errors == []


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unavailable(call) -> DomainUnavailable:
    with pytest.raises(DomainUnavailable) as caught:
        call()
    return caught.value


def ask(domain):
    return domain.context(question="Which flats?", history=[], user=None)


def act(domain):
    return domain.run_action(action="book_viewing", params={"slot": "9:00"}, user=None)


# --- signatures ---------------------------------------------------------------------------


def test_sign_matches_a_known_vector():
    # The same as: openssl dgst -sha256 -hmac whsec_test <(printf '1700000000.{"question":"hi"}')
    assert sign(SECRET, b'{"question":"hi"}', 1700000000) == (
        "t=1700000000,v1=0cf31bff59559c17a77bdea213e52c416c7b1d64bbb91cc869d0fb4af45059b1"
    )


def test_verify_accepts_only_the_signed_body_with_the_secret_in_time():
    body, t = b'{"action":"refund"}', 1700000000
    header = sign(SECRET, body, t)
    assert verify(SECRET, body, header, now=t + 299)
    assert verify(SECRET, body, header, now=t - 299)  # a host clock a little behind
    assert not verify(SECRET, body, header, now=t + 301)  # a replay
    assert not verify(SECRET, body, header, now=t + 11, tolerance_s=10)
    assert not verify("other", body, header, now=t)
    assert not verify(SECRET, body + b" ", header, now=t)
    assert not verify(SECRET, body, sign(SECRET, body, t + 1).replace(f"{t + 1}", f"{t}"), now=t)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "v1=00",
        "t=1700000000",
        "t=soon,v1=00",
        "t=1700000000,t=1700000000,v1=00",
        "t=1700000000,v1=é",
    ],
)
def test_verify_refuses_malformed_headers(header):
    assert not verify(SECRET, b"{}", header, now=1700000000)


def test_verify_accepts_a_header_with_several_signatures_if_one_matches():
    body, t = b"{}", 1700000000
    old = sign("old-secret", body, t).partition(",")[2]
    new = sign(SECRET, body, t)
    assert verify(SECRET, body, f"{new},{old}", now=t)
    assert verify("old-secret", body, f"{new},{old}", now=t)


# --- answers the domain uses --------------------------------------------------------------


def test_an_http_domain_is_a_domain(host):
    assert isinstance(host.domain(), Domain)


def test_context_posts_the_question_and_returns_the_records(host):
    records = {"listings": [{"id": 3, "city": "Zürich"}], "action": []}
    host.reply = Reply(200, records)

    got = host.domain().context(question="Flats in Zürich?", history=["hi", "hello"], user=None)

    assert got == records
    (request,) = host.requests
    assert request.path == "/context"
    assert request.body == (
        '{"question":"Flats in Zürich?","history":["hi","hello"],"user":null}'.encode()
    )
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "weft"
    t = int(request.headers["X-Weft-Signature"].partition(",")[0].removeprefix("t="))
    assert abs(t - time.time()) < 60
    assert request.headers["X-Weft-Signature"] == sign(SECRET, request.body, t)


def test_action_posts_the_action_and_the_user_and_returns_the_outcome(host):
    host.reply = Reply(200, {"outcome": " Viewing booked for 9:00. "})
    user = get_user_model()(pk=7, username="ana")  # never saved: no database

    got = host.domain().run_action(action="book_viewing", params={"slot": "9:00"}, user=user)

    assert got == "Viewing booked for 9:00."
    (request,) = host.requests
    assert request.path == "/action"
    assert request.body == (
        b'{"action":"book_viewing","params":{"slot":"9:00"},"user":{"id":7,"username":"ana"}}'
    )


def test_a_422_with_a_refusal_is_action_refused(host):
    host.reply = Reply(422, {"refused": "That slot is taken."})
    with pytest.raises(ActionRefused) as caught:
        act(host.domain())
    assert str(caught.value) == "That slot is taken."


def test_a_context_within_the_limit_is_read(host):
    host.reply = Reply(200, b'{"a":"' + b"x" * 92 + b'"}')  # 100 bytes
    assert ask(host.domain(max_context_bytes=100)) == {"a": "x" * 92}


# --- what the user reads when the host fails ----------------------------------------------


def test_a_wrong_secret_is_answered_401_and_the_user_is_told(host):
    domain = host.domain(secret="not-the-secret")

    error = unavailable(lambda: act(domain))

    assert str(error) == (
        "acme rejected the signature (HTTP 401): an administrator must check the secret. " + NOT_RUN
    )
    assert len(host.requests) == 1  # the server did get it, and refused it
    failure = error.__cause__
    assert isinstance(failure, HostFailure)
    assert (failure.kind, failure.status) == ("rejected", 401)
    assert "bad signature" in str(failure)  # the host's own words stay in the technical detail


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(500, {"error": "boom"}), "acme answered with an error (HTTP 500)."),
        (Reply(404, {}), "acme answered with an error (HTTP 404)."),
        (Reply(302, b""), "acme answered with an error (HTTP 302)."),
        (Reply(200, b"<html>oops</html>"), "acme answered with something that is not JSON."),
        (Reply(200, b"\xff\xfe{}"), "acme answered with something that is not JSON."),
        (Reply(200, b'{"price": NaN}'), "acme answered with something that is not JSON."),
        (Reply(200, [{"id": 1}]), "acme answered with JSON that is not an object."),
        (Reply(200, "records"), "acme answered with JSON that is not an object."),
        (Reply(200, {"a": "x" * 200}), "acme answered with more than 100 bytes."),
        (Reply(200, b"{}", declared_length=50), "acme closed the connection before answering."),
        (Reply(hang_up=True), "acme closed the connection before answering."),
    ],
)
def test_a_context_failure_tells_the_user_what_happened(host, reply, message):
    host.reply = reply
    error = unavailable(lambda: ask(host.domain(max_context_bytes=100)))
    assert str(error) == f"{message} {CONTEXT_KEPT}"
    assert isinstance(error.__cause__, HostFailure)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(500, {}), f"acme answered with an error (HTTP 500). {MAY_HAVE_RUN}"),
        (Reply(404, {}), f"acme answered with an error (HTTP 404). {NOT_RUN}"),
        (Reply(422, {"error": "bad"}), f"acme answered with an error (HTTP 422). {NOT_RUN}"),
        (Reply(200, {"done": True}), f"{NO_OUTCOME} {MAY_HAVE_RUN}"),
        (Reply(200, {"outcome": " "}), f"{NO_OUTCOME} {MAY_HAVE_RUN}"),
        (Reply(200, ["Booked."]), f"{NO_OUTCOME} {MAY_HAVE_RUN}"),
        (Reply(200, b"Booked."), f"acme answered with something that is not JSON. {MAY_HAVE_RUN}"),
        (Reply(hang_up=True), f"acme closed the connection before answering. {MAY_HAVE_RUN}"),
    ],
)  # fmt: skip
def test_an_action_failure_says_whether_it_may_have_run(host, reply, message):
    host.reply = reply
    assert str(unavailable(lambda: act(host.domain()))) == message


def test_a_host_that_is_down_is_not_answering(host, closed_port):
    domain = host.domain(
        context_url=f"http://127.0.0.1:{closed_port}/context",
        action_url=f"http://127.0.0.1:{closed_port}/action",
    )

    context_error = unavailable(lambda: ask(domain))
    action_error = unavailable(lambda: act(domain))

    assert str(context_error) == f"acme is not answering (connection refused). {CONTEXT_KEPT}"
    assert str(action_error) == f"acme is not answering (connection refused). {NOT_RUN}"
    assert isinstance(context_error.__cause__.__cause__, ConnectionRefusedError)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(delay_s=5),
        # Each byte comes well within the timeout, so only a total deadline stops these.
        Reply(200, {"records": "x" * 100}, body_drip_s=0.05),
        Reply(200, {}, head_drip_s=0.05),
    ],
    ids=["silent", "dripping-body", "dripping-headers"],
)
def test_a_slow_host_times_out_on_a_total_deadline(host, reply):
    host.reply = reply
    domain = host.domain()

    started = time.monotonic()
    context_error = unavailable(lambda: ask(domain))
    elapsed = time.monotonic() - started
    action_error = unavailable(lambda: act(domain))

    assert TIMEOUT_S <= elapsed < LATE_S
    assert str(context_error) == f"acme did not answer within 0.3 seconds. {CONTEXT_KEPT}"
    assert str(action_error) == f"acme did not answer within 0.3 seconds. {MAY_HAVE_RUN}"
    assert context_error.__cause__.kind == "timeout"


def test_an_answer_is_read_no_further_than_the_limit_and_a_byte():
    class Endless:
        length = None  # no Content-Length: the host could send forever
        asked = 0

        def read1(self, size):
            self.asked += size
            return b"x" * size

    deadline = domains.http._Deadline(5, connection=None)
    response = Endless()
    assert domains.http._read_at_most(response, 1000, deadline) == b"x" * 1001
    assert response.asked == 1001


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.com/x", "/context", "file:///etc/passwd", ""])
def test_only_http_and_https_urls_are_accepted(host, url):
    with pytest.raises(ValueError, match="context_url must be an http:// or https:// URL"):
        host.domain(context_url=url)


@pytest.fixture
def http_settings(settings, host):
    settings.WEFT_HTTP_DOMAIN_NAME = "acme"
    settings.WEFT_HTTP_DOMAIN_CONTEXT_URL = host.url("/context")
    settings.WEFT_HTTP_DOMAIN_ACTION_URL = host.url("/action")
    settings.WEFT_HTTP_DOMAIN_SECRET = SECRET
    settings.WEFT_HTTP_DOMAIN_WIDGETS_DIR = "/srv/acme/widgets"
    settings.WEFT_HTTP_DOMAIN_TIMEOUT_S = 2
    settings.WEFT_HTTP_DOMAIN_MAX_CONTEXT_BYTES = 1000
    return settings


def test_the_module_domain_is_built_from_settings_when_first_used(http_settings, host):
    assert isinstance(domains.http.domain, HttpDomainFromSettings)
    host.reply = Reply(200, {"listings": []})
    domain = HttpDomainFromSettings()

    assert domain.name == "acme"
    assert domain.widgets_dir == Path("/srv/acme/widgets")
    assert ask(domain) == {"listings": []}
    assert domain._built().timeout_s == 2
    assert domain._built().max_context_bytes == 1000


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "WEFT_HTTP_DOMAIN_CONTEXT_URL",
            "WEFT_HTTP_DOMAIN_CONTEXT_URL is not set: WEFT_DOMAIN=domains.http:domain needs "
            "the host's URL for records (docs/http-domain.md).",
        ),
        (
            "WEFT_HTTP_DOMAIN_SECRET",
            "WEFT_HTTP_DOMAIN_SECRET is not set: WEFT_DOMAIN=domains.http:domain needs "
            "the secret requests are signed with (docs/http-domain.md).",
        ),
    ],
)
def test_a_missing_setting_is_improperly_configured(http_settings, setting, message):
    setattr(http_settings, setting, "")
    with pytest.raises(ImproperlyConfigured) as caught:
        ask(HttpDomainFromSettings())
    assert str(caught.value) == message


def test_a_setting_that_is_not_a_url_is_improperly_configured(http_settings):
    http_settings.WEFT_HTTP_DOMAIN_ACTION_URL = "localhost:8000/action"
    with pytest.raises(ImproperlyConfigured, match="action_url must be an http:// or https://"):
        HttpDomainFromSettings().name  # noqa: B018


def test_weft_domain_can_name_it_while_settings_load(host):
    """The real start-up: settings.py imports and checks WEFT_DOMAIN's object before the
    WEFT_HTTP_DOMAIN_* lines run, so the domain must not read settings then."""
    host.reply = Reply(200, {"listings": [1]})
    probe = (
        "import json, sys, domains.http\n"
        "assert 'django' not in sys.modules, 'imported Django at module level'\n"
        "import django; django.setup()\n"
        "from domains.loading import current_domain\n"
        "d = current_domain()\n"
        "assert d is domains.http.domain\n"
        "print(json.dumps([d.name, str(d.widgets_dir), "
        "d.context(question='q', history=[], user=None)]))\n"
    )
    env = os.environ | {
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "WEFT_DOMAIN": "domains.http:domain",
        "WEFT_HTTP_DOMAIN_NAME": "acme",
        "WEFT_HTTP_DOMAIN_CONTEXT_URL": host.url("/context"),
        "WEFT_HTTP_DOMAIN_ACTION_URL": host.url("/action"),
        "WEFT_HTTP_DOMAIN_SECRET": SECRET,
        "WEFT_HTTP_DOMAIN_WIDGETS_DIR": "/srv/acme/widgets",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "acme",
        "/srv/acme/widgets",
        {"listings": [1]},
    ]


# --- the documented messages are the ones the code writes ---------------------------------


@pytest.mark.parametrize("message", [*FAILURES.values(), *AFTERMATH.values()])
def test_every_user_message_is_documented(message):
    assert message in domains.http.__doc__
    assert message in (REPO / "docs" / "http-domain.md").read_text()
