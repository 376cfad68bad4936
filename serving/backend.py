"""The one interface every inference backend implements, its records, and its errors.

A backend streams one completion: chat messages in (already built by serving.prompts, which
is where widget manuals and `context` records are placed), text deltas out, then one
Completion record with usage and timing. It also lists its models (the base model and any
loaded adapters) and loads or unloads adapters by name.

If the last message is from the assistant, the backend continues that message instead of
starting a new one (an assistant prefix: evaluation and tests use it to open a widget tag).

Backends are plain Python: no Django here or in them. `get_backend()` is the one place that
reads `settings.WEFT_BACKEND`; a backend class is registered by dotted path, so picking one
imports only that backend (the web process starts without torch).
"""

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

BASE_MODEL = "base"  # the model name that means "no adapter"
ROLES = ("system", "user", "assistant")


# ---------------------------------------------------------------- errors a user may see


class BackendError(Exception):
    """A failure the chat can show: `code` is stable, `message` is for people."""

    code: ClassVar[str] = "backend_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BackendUnavailable(BackendError):
    """The model server is down or the model files cannot be loaded."""

    code = "backend_unavailable"


class BackendTimeout(BackendUnavailable):
    """The backend stopped answering within its time limit; the generation was cancelled."""

    code = "backend_timeout"


class BackendBusy(BackendError):
    """Another generation held the model for longer than a caller may wait."""

    code = "backend_busy"


class UnknownModel(BackendError):
    """No base model or loaded adapter has that name."""

    code = "unknown_model"


class AdapterError(BackendError):
    """An adapter folder could not be loaded (missing, wrong base model, bad name)."""

    code = "adapter_error"


class InvalidRequest(BackendError):
    """The request cannot be served as asked (e.g. a constraint this backend cannot apply)."""

    code = "invalid_request"


# ---------------------------------------------------------------- request records


@dataclass(frozen=True, kw_only=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role is one of {ROLES}, not {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError("content is a string")

    @classmethod
    def from_dict(cls, message: dict[str, Any]) -> "ChatMessage":
        """From the OpenAI chat format of shared/spec/datasets.md (extra keys are ignored)."""
        return cls(role=message["role"], content=message["content"])

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, kw_only=True, slots=True)
class Sampling:
    temperature: float = 0.0  # 0 = greedy: the same prompt gives the same answer
    max_tokens: int = 256  # new tokens; CPU generation runs at tens of tokens a second
    top_p: float = 1.0  # nucleus sampling; ignored when greedy
    seed: int | None = None  # makes sampling (temperature > 0) repeatable
    stop: tuple[str, ...] = ()  # strings that end the completion; they are not returned

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature is >= 0")
        if self.max_tokens < 1:
            raise ValueError("max_tokens is >= 1")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p is in (0, 1]")
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError("stop is a tuple of non-empty strings")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Constraint:
    """A structural tag (xgrammar's JSON form, also what vLLM takes) as canonical JSON text.

    Text, not a dict: it is hashable, so a backend can cache the compiled grammar by it.
    Build one with serving.constraints.widget_constraint().
    """

    structural_tag: str


# ---------------------------------------------------------------- stream records


@dataclass(frozen=True, kw_only=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Completion:
    """The last item of every stream: usage and timing of the whole completion."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float  # from the request to the last token
    first_token_seconds: float | None  # time to first token; None when nothing was generated
    finish_reason: Literal["stop", "length", "cancelled"]

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


StreamItem = TextDelta | Completion


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelInfo:
    name: str
    kind: Literal["base", "adapter"]
    path: str = ""  # where an adapter was loaded from


# ---------------------------------------------------------------- the interface


@runtime_checkable
class Backend(Protocol):
    """What the chat, evaluation and training code may call on any backend."""

    name: ClassVar[str]
    supports_constraints: ClassVar[bool]

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str = BASE_MODEL,
        sampling: Sampling = Sampling(),
        constraint: Constraint | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamItem]:
        """TextDeltas, then exactly one Completion. Raises BackendError subclasses only.

        Setting `cancel` (or closing the iterator) ends the generation early; the stream then
        still ends with a Completion whose finish_reason is "cancelled".
        """
        ...

    def models(self) -> list[ModelInfo]: ...

    def load_adapter(self, name: str, path: str | Path) -> None: ...

    def unload_adapter(self, name: str) -> None: ...


def complete(
    backend: Backend, messages: Sequence[ChatMessage], **options
) -> tuple[str, Completion]:
    """Drain a stream: the whole text and its Completion (evaluation and tests want both)."""
    parts: list[str] = []
    completion = None
    for item in backend.stream(messages, **options):
        if isinstance(item, TextDelta):
            parts.append(item.text)
        else:
            completion = item
    if completion is None:
        raise BackendError(f"the {backend.name} backend ended a stream without its usage record")
    return "".join(parts), completion


# ---------------------------------------------------------------- picking a backend

# name -> "module:Class". Built-in backends register here exactly as another one would.
_REGISTERED: dict[str, str] = {
    "local": "serving.local:LocalBackend",
    "scripted": "serving.scripted:ScriptedBackend",
    "vllm": "serving.vllm:VLLMBackend",
}
_instances: dict[tuple[str, tuple], Backend] = {}
_instances_lock = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class BackendSettings:
    """What a backend's constructor may need from the settings: plain values, no Django."""

    model_dir: Path
    vllm_url: str = ""
    # torch intra-op threads for the embedded model; None: half the cores (see serving.local).
    torch_threads: int | None = None


def load_adapter_once(backend: Backend, name: str, path: str | Path) -> None:
    """Load adapter `name` from `path` unless `backend` already serves it.

    Two processes sharing one vLLM server (two evaluations, a chat and an evaluation) may
    both find it missing and both load it: the second load fails, and that is no error.
    """
    if any(m.name == name for m in backend.models()):
        return
    try:
        backend.load_adapter(name, path)
    except AdapterError:
        if not any(m.name == name for m in backend.models()):
            raise


def register_backend(name: str, target: str) -> None:
    """Make `WEFT_BACKEND = name` pick the class at `target` ("package.module:Class")."""
    if ":" not in target:
        raise ValueError("target is 'package.module:Class'")
    _REGISTERED[name] = target


def registered_backends() -> list[str]:
    return sorted(_REGISTERED)


def backend_class(name: str) -> Callable[..., Backend]:
    try:
        target = _REGISTERED[name]
    except KeyError:
        raise LookupError(
            f"unknown backend {name!r}; registered: {', '.join(registered_backends())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_backend(name: str | None = None) -> Backend:
    """The process-wide instance of the configured backend (settings.WEFT_BACKEND).

    Raises django's ImproperlyConfigured for a name nobody registered: that is a deployment
    mistake, not something a chat user can fix.
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    name = name or settings.WEFT_BACKEND
    config = BackendSettings(
        model_dir=Path(settings.WEFT_MODEL_DIR),
        vllm_url=settings.WEFT_VLLM_URL,
        torch_threads=getattr(settings, "WEFT_TORCH_THREADS", None),
    )
    key = (name, (str(config.model_dir), config.vllm_url, config.torch_threads))
    with _instances_lock:
        if key not in _instances:
            try:
                cls = backend_class(name)
            except LookupError as error:
                raise ImproperlyConfigured(f"WEFT_BACKEND: {error}") from None
            _instances[key] = cls(config)
        return _instances[key]
