"""ScriptedBackend: replies you script, for UI and service tests (never the only test of a path).

    backend = get_backend("scripted")
    backend.enqueue('Here:\n<widget type="listing_card">{...}</widget>', chunk_size=5)
    ... the code under test streams a reply ...
    assert backend.history[-1].messages[-1].content == "Anything in Austin?"

It registers like any backend (WEFT_BACKEND = "scripted") and keeps the real ones' rules:
unknown model names and empty scripts raise the same typed errors, `cancel` and stop strings
end a reply early, and every stream ends with a Completion (one "token" per chunk).
"""

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from serving.backend import (
    BASE_MODEL,
    BackendError,
    BackendSettings,
    ChatMessage,
    Completion,
    Constraint,
    ModelInfo,
    Sampling,
    StreamItem,
    TextDelta,
    UnknownModel,
)
from serving.stop_text import StopText


@dataclass(frozen=True, kw_only=True)
class ScriptedCall:
    """One request the backend received, as the code under test sent it."""

    messages: tuple[ChatMessage, ...]
    model: str
    sampling: Sampling
    constraint: Constraint | None


@dataclass(frozen=True, kw_only=True)
class _Reply:
    chunks: tuple[str, ...]
    error: BackendError | None = None
    delay_s: float = 0.0


class ScriptedBackend:
    name: ClassVar[str] = "scripted"
    supports_constraints: ClassVar[bool] = True  # accepted and recorded, not applied

    def __init__(self, config: BackendSettings | None = None) -> None:
        self.history: list[ScriptedCall] = []
        self._replies: deque[_Reply] = deque()
        self._adapters: dict[str, str] = {}
        self._lock = threading.Lock()

    def enqueue(self, *texts: str, chunk_size: int = 4, delay_s: float = 0.0) -> None:
        """Each text is one future reply, streamed `chunk_size` characters at a time, each
        chunk `delay_s` seconds after the last (a slow model, for tests that act mid-reply)."""
        if chunk_size < 1 or delay_s < 0:
            raise ValueError("chunk_size is >= 1 and delay_s >= 0")
        with self._lock:
            for text in texts:
                chunks = tuple(text[i : i + chunk_size] for i in range(0, len(text), chunk_size))
                self._replies.append(_Reply(chunks=chunks, delay_s=delay_s))

    def enqueue_error(self, error: BackendError) -> None:
        """The next request raises `error` (e.g. BackendUnavailable, to test the chat's message)."""
        with self._lock:
            self._replies.append(_Reply(chunks=(), error=error))

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.history.clear()
            self._adapters.clear()

    def models(self) -> list[ModelInfo]:
        adapters = [
            ModelInfo(name=n, kind="adapter", path=p) for n, p in sorted(self._adapters.items())
        ]
        return [ModelInfo(name=BASE_MODEL, kind="base"), *adapters]

    def load_adapter(self, name: str, path: str | Path) -> None:
        self._adapters[name] = str(path)

    def unload_adapter(self, name: str) -> None:
        if self._adapters.pop(name, None) is None:
            raise UnknownModel(f"No adapter named {name!r} is loaded.")

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str = BASE_MODEL,
        sampling: Sampling = Sampling(),  # noqa: B008 (frozen)
        constraint: Constraint | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamItem]:
        if model != BASE_MODEL and model not in self._adapters:
            raise UnknownModel(f"No model named {model!r}.")
        with self._lock:
            self.history.append(
                ScriptedCall(
                    messages=tuple(messages), model=model, sampling=sampling, constraint=constraint
                )
            )
            if not self._replies:
                raise BackendError("The scripted backend has no reply queued (call enqueue()).")
            reply = self._replies.popleft()
        if reply.error is not None:
            raise reply.error
        return self._play(reply, model, sampling, cancel or threading.Event())

    @staticmethod
    def _play(reply: _Reply, model: str, sampling: Sampling, cancel) -> Iterator[StreamItem]:
        started = time.monotonic()
        first = None
        stop_text = StopText(sampling.stop)
        sent = 0
        reason = "stop"
        for chunk in reply.chunks:
            if reply.delay_s:
                cancel.wait(reply.delay_s)  # a cancel ends the pause at once
            if cancel.is_set():
                reason = "cancelled"
                break
            if sent == sampling.max_tokens:
                reason = "length"
                break
            sent += 1
            if text := stop_text.feed(chunk):
                first = first if first is not None else time.monotonic() - started
                yield TextDelta(text=text)
            if stop_text.hit:
                break
        if (rest := stop_text.flush()) and reason == "stop":
            yield TextDelta(text=rest)
        yield Completion(
            model=model,
            prompt_tokens=0,
            completion_tokens=sent,
            seconds=time.monotonic() - started,
            first_token_seconds=first,
            finish_reason=reason,
        )
