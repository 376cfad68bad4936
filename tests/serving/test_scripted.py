import threading

import pytest

from serving.backend import (
    BackendError,
    BackendUnavailable,
    ChatMessage,
    Completion,
    Constraint,
    Sampling,
    TextDelta,
    UnknownModel,
    complete,
)
from serving.scripted import ScriptedBackend

HI = [ChatMessage(role="user", content="hi")]


def test_streams_each_reply_in_chunks_and_records_the_request():
    backend = ScriptedBackend()
    backend.enqueue("Hello there", "Second", chunk_size=4)
    constraint = Constraint(structural_tag="{}")
    items = list(backend.stream(HI, sampling=Sampling(max_tokens=50), constraint=constraint))
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hell", "o th", "ere"]
    done = items[-1]
    assert isinstance(done, Completion)
    assert (done.completion_tokens, done.finish_reason, done.model) == (3, "stop", "base")
    assert backend.history[0].messages == tuple(HI) and backend.history[0].constraint is constraint
    assert complete(backend, HI)[0] == "Second"


def test_max_tokens_stop_strings_and_cancel_end_a_reply_early():
    backend = ScriptedBackend()
    backend.enqueue("abcdefgh", "one. two. three.", "abcdefgh", chunk_size=2)
    text, done = complete(backend, HI, sampling=Sampling(max_tokens=2))
    assert (text, done.finish_reason) == ("abcd", "length")
    text, done = complete(backend, HI, sampling=Sampling(stop=(". ",)))
    assert (text, done.finish_reason) == ("one", "stop")
    cancel = threading.Event()
    stream = backend.stream(HI, cancel=cancel)
    assert next(stream).text == "ab"
    cancel.set()
    rest = list(stream)
    assert rest[-1].finish_reason == "cancelled" and len(rest) == 1


def test_an_empty_script_and_scripted_errors_raise_typed_errors():
    backend = ScriptedBackend()
    with pytest.raises(BackendError, match="enqueue"):
        backend.stream(HI)
    backend.enqueue_error(BackendUnavailable("server down"))
    with pytest.raises(BackendUnavailable, match="server down"):
        backend.stream(HI)


def test_adapters_are_listed_and_unknown_models_refused():
    backend = ScriptedBackend()
    backend.load_adapter("tuned-1", "adapters/tuned-1")
    assert [(m.name, m.kind) for m in backend.models()] == [
        ("base", "base"),
        ("tuned-1", "adapter"),
    ]
    backend.enqueue("ok")
    assert complete(backend, HI, model="tuned-1")[1].model == "tuned-1"
    backend.unload_adapter("tuned-1")
    with pytest.raises(UnknownModel):
        backend.stream(HI, model="tuned-1")
    with pytest.raises(UnknownModel):
        backend.unload_adapter("tuned-1")
