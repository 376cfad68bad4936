"""VLLMBackend: a client of a vLLM OpenAI-compatible server (started by `manage.py serve_model`).

The HTTP client is the standard library's http.client, not the `openai` package: the app
environment does not have it, and the few calls made here (a streamed chat completion, the
model list, loading and unloading adapters) take less code than the package's error mapping
would. Every call has a time limit: connecting (the server is down: BackendUnavailable
quickly), and each read (a stalled server: BackendTimeout, never a hang).

Adapters are vLLM LoRA modules loaded at run time (POST /v1/load_lora_adapter; the server
runs with VLLM_ALLOW_RUNTIME_LORA_UPDATING). Their names are immutable: loading a second
folder under a name already loaded is refused, by vLLM and by us. Reloading under a reused
name would serve prefix-cache blocks computed with the old weights (vLLM issue 42125), so
callers load a retrained adapter under a new, versioned name and unload the old one.

An assistant prefix (the last message is from the assistant) is continued exactly as
LocalBackend does it: the chat template is applied with continue_final_message=True and
add_generation_prompt=False (vLLM takes both in the request body). Under a constraint there
is one difference to bridge: LocalBackend's grammar matcher reads the prefix first, but
vLLM's grammar starts at the first new token. So the constraint sent is the grammar for the
rest of the answer: if the prefix leaves a widget tag open, "finish this tag, then the usual
rules" (see `constraint_after`).
"""

import http.client
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from serving.backend import (
    BASE_MODEL,
    AdapterError,
    BackendError,
    BackendSettings,
    BackendTimeout,
    BackendUnavailable,
    ChatMessage,
    Completion,
    Constraint,
    InvalidRequest,
    ModelInfo,
    Sampling,
    StreamItem,
    TextDelta,
    UnknownModel,
)

CONNECT_TIMEOUT_S = 5.0  # a local server accepts at once; longer means it is down
TOKEN_WAIT_S = 60.0  # longest gap between two streamed chunks (prompt prefill included)
CALL_TIMEOUT_S = 30.0  # model list and adapter calls (loading reads the adapter from disk)
ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # as LocalBackend's


class VLLMBackend:
    name: ClassVar[str] = "vllm"
    supports_constraints: ClassVar[bool] = True

    def __init__(
        self,
        config: BackendSettings,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        token_timeout: float = TOKEN_WAIT_S,
        call_timeout: float = CALL_TIMEOUT_S,
    ) -> None:
        if not config.vllm_url:
            raise BackendUnavailable("No vLLM server is configured (WEFT_VLLM_URL is empty).")
        self.url = config.vllm_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.token_timeout = token_timeout
        self.call_timeout = call_timeout

    # ------------------------------------------------------------ models and adapters

    def models(self) -> list[ModelInfo]:
        listing = self._call("GET", "/models")
        if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
            raise BackendError(f"The server at {self.url} did not list models as vLLM does.")
        cards = listing["data"]
        # The server lists the base model under its served name ("base" from serve_model);
        # whatever that name is, it is the model without an adapter.
        bases = [
            ModelInfo(name=BASE_MODEL, kind="base", path=str(card.get("root", "")))
            for card in cards
            if card.get("parent") is None
        ]
        adapters = sorted(
            (
                ModelInfo(name=card["id"], kind="adapter", path=str(card.get("root", "")))
                for card in cards
                if card.get("parent") is not None
            ),
            key=lambda info: info.name,
        )
        return [*bases[:1], *adapters]

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load the peft adapter in `path` as model `name`, a name never loaded before."""
        if name == BASE_MODEL or not ADAPTER_NAME.fullmatch(name):
            raise AdapterError(f"{name!r} cannot name an adapter (letters, digits, _ . -).")
        folder = Path(path).resolve()  # the server resolves paths from its own directory
        if not (folder / "adapter_config.json").is_file():
            raise AdapterError(f"No peft adapter in {folder} (adapter_config.json is missing).")
        if any(info.name == name for info in self.models()):
            raise AdapterError(
                f"An adapter named {name!r} is already loaded. Adapter names are immutable "
                "on vLLM: load new weights under a new versioned name."
            )
        try:
            self._call("POST", "/load_lora_adapter", {"lora_name": name, "lora_path": str(folder)})
        except (InvalidRequest, UnknownModel, _ServerError) as error:
            raise AdapterError(f"vLLM could not load the adapter in {folder}: {error}") from error

    def unload_adapter(self, name: str) -> None:
        try:
            self._call("POST", "/unload_lora_adapter", {"lora_name": name})
        except (UnknownModel, InvalidRequest) as error:
            raise UnknownModel(f"No adapter named {name!r} is loaded.") from error

    # ------------------------------------------------------------ generation

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str = BASE_MODEL,
        sampling: Sampling = Sampling(),  # noqa: B008 (frozen)
        constraint: Constraint | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamItem]:
        started = time.monotonic()
        body = chat_request(messages, model=model, sampling=sampling, constraint=constraint)
        # Sent here, not on first iteration: a bad model name or a server that is down raises
        # at the call, as with LocalBackend.
        exchange = self._open("POST", "/chat/completions", body, timeout=self.token_timeout)
        return self._read(*exchange, model, cancel or threading.Event(), started)

    def _read(self, connection, response, model, cancel, started) -> Iterator[StreamItem]:
        usage: dict[str, int] = {}
        reason = None
        first_token_at = None
        try:
            for chunk in _events(response):
                if "error" in chunk:
                    raise _error_for(chunk, fallback=BackendError)
                usage = chunk.get("usage") or usage  # continuous: every chunk has the totals
                for choice in chunk.get("choices", ()):
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        first_token_at = first_token_at or time.monotonic()
                        yield TextDelta(text=text)
                    reason = choice.get("finish_reason") or reason
                if cancel.is_set():
                    reason = "cancelled"
                    break
        except TimeoutError:
            raise BackendTimeout(
                f"The model produced nothing for {self.token_timeout:.0f} s; "
                "the answer was stopped."
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise BackendUnavailable(f"The vLLM server dropped the answer: {error}") from None
        except ValueError as error:
            raise BackendError(f"The vLLM server sent a malformed chunk: {error}") from None
        finally:
            # Closing the connection is how vLLM learns to abort: a caller that stops
            # iterating (or cancels) must not leave the server generating.
            connection.close()
        if reason == "abort":
            raise BackendError("The vLLM server aborted the answer.")
        if reason is None:  # the stream ended, but the answer did not say it had
            raise BackendUnavailable("The vLLM server dropped the answer before the end.")
        yield Completion(
            model=model,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=time.monotonic() - started,
            first_token_seconds=None if first_token_at is None else first_token_at - started,
            finish_reason=reason if reason in ("length", "cancelled") else "stop",
        )

    # ------------------------------------------------------------ HTTP

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        """A short request: its JSON answer (or the text vLLM answers adapter calls with)."""
        connection, response = self._open(method, path, body, timeout=self.call_timeout)
        try:
            raw = response.read()
        except TimeoutError:
            raise BackendTimeout(f"The vLLM server did not answer {path} in time.") from None
        except (OSError, http.client.HTTPException) as error:
            raise BackendUnavailable(f"The vLLM server dropped {path}: {error}") from None
        finally:
            connection.close()
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def _open(self, method: str, path: str, body: dict | None, *, timeout: float):
        """Send a request: (connection, response) if its status is 200, else the typed error.

        The caller closes the connection; for a stream, that is what tells vLLM to stop.
        """
        parts = urllib.parse.urlsplit(self.url + path)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(parts.hostname, parts.port, timeout=self.connect_timeout)
        try:
            connection.connect()
        except OSError as error:  # refused, unreachable, or no accept within connect_timeout
            connection.close()
            raise BackendUnavailable(
                f"The vLLM server at {self.url} cannot be reached ({error}). "
                "Is `manage.py serve_model` running?"
            ) from None
        headers = {"Accept": "application/json, text/event-stream"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.sock.settimeout(timeout)  # from here on, the limit is per read
            connection.request(method, parts.path, body=payload, headers=headers)
            response = connection.getresponse()
            if response.status == 200:
                return connection, response
            detail = _json_or_empty(response.read())
        except TimeoutError:
            connection.close()
            raise BackendTimeout(f"The vLLM server at {self.url} did not answer in time.") from None
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise BackendUnavailable(f"The vLLM server at {self.url} failed: {error}") from None
        connection.close()
        raise _error_for(detail, status=response.status, fallback=_ServerError)


def _json_or_empty(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {}


class _ServerError(BackendError):
    """A 5xx from vLLM (translated where the caller knows better, e.g. to AdapterError)."""


def _error_for(detail: Any, *, status: int = 0, fallback: type[BackendError]) -> BackendError:
    error = detail.get("error") if isinstance(detail, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or (detail or f"HTTP {status}"))
    status = status or int(error.get("code") or 0)
    if status == 404:
        return UnknownModel(message)
    if status in (400, 422):
        return InvalidRequest(message)
    return fallback(f"The vLLM server failed: {message}")


def _events(response) -> Iterator[dict]:
    """The JSON payloads of a server-sent event stream, up to `data: [DONE]`."""
    while True:
        line = response.readline()
        if not line:
            return  # closed without [DONE]: whole if it sent its finish reason (_read)
        line = line.strip()
        if not line.startswith(b"data:"):
            continue  # blank separators, comments, other fields
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        yield json.loads(data)


# ---------------------------------------------------------------- the request


def chat_request(
    messages: Sequence[ChatMessage],
    *,
    model: str,
    sampling: Sampling,
    constraint: Constraint | None,
) -> dict[str, Any]:
    """The body of POST /v1/chat/completions for one streamed answer."""
    if not messages:
        raise InvalidRequest("A completion needs at least one message.")
    continuing = messages[-1].role == "assistant"
    body: dict[str, Any] = {
        "model": model,
        "messages": [message.as_dict() for message in messages],
        "stream": True,
        # Usage on every chunk: a cancelled stream still knows how many tokens it got.
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        # vLLM's chat template options, as LocalBackend applies the template.
        "add_generation_prompt": not continuing,
        "continue_final_message": continuing,
    }
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if constraint is not None:
        prefix = messages[-1].content if continuing else ""
        body["response_format"] = constraint_after(constraint, prefix)
    return body


def constraint_after(constraint: Constraint, prefix: str) -> dict[str, Any]:
    """The structural tag for the rest of an answer whose first `prefix` is written.

    From prose, the rest follows the same tag. From inside an open tag (`<widget type="x">`
    or a part of it), the rest is: the remainder of one matching tag, then the same tag.
    A prefix that ends inside a widget's JSON body cannot be expressed this way and is
    refused (InvalidRequest), as is one that already breaks the constraint.
    """
    tag = json.loads(constraint.structural_tag)
    if not prefix:
        return tag
    triggered = tag.get("format") or {}
    if triggered.get("type") == "any_text":  # no widget can be written this turn
        if any(excluded in prefix for excluded in triggered["excludes"]):
            raise InvalidRequest("The assistant prefix already breaks the widget constraint.")
        _refuse_partial_trigger(prefix, triggered["excludes"])
        return tag
    if triggered.get("type") != "triggered_tags":
        raise InvalidRequest("vLLM continues an assistant prefix only under a widget constraint.")
    opened = max(prefix.rfind(trigger) for trigger in triggered["triggers"])
    ends = {item["end"] for item in triggered["tags"]}
    if opened < 0 or any(end in prefix[opened:] for end in ends):
        _refuse_partial_trigger(prefix, triggered["triggers"])
        return tag  # prose: the grammar's state is its start state
    tail = prefix[opened:]
    rests = []
    for item in triggered["tags"]:
        if item["begin"].startswith(tail):
            rests.append({**item, "begin": item["begin"][len(tail) :]})
        elif tail.startswith(item["begin"]):
            raise InvalidRequest(
                "On vLLM an assistant prefix may end in prose or at an open widget tag, "
                "not inside the widget's JSON."
            )
    if not rests:
        raise InvalidRequest("The assistant prefix already breaks the widget constraint.")
    return {
        "type": "structural_tag",
        "format": {"type": "sequence", "elements": [{"type": "or", "elements": rests}, triggered]},
    }


def _refuse_partial_trigger(prefix: str, triggers: Sequence[str]) -> None:
    # "...<wid" would leave the grammar halfway through a trigger, a state a fresh grammar
    # cannot start in.
    for trigger in triggers:
        if any(prefix.endswith(trigger[:size]) for size in range(1, len(trigger))):
            raise InvalidRequest(
                f"On vLLM an assistant prefix cannot end with part of {trigger!r}."
            )
