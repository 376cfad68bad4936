"""LocalBackend: the embedded default. transformers + peft in this process, on the CPU.

One model per process (SmolLM2-135M-Instruct, see model_files), loaded on first use and
shared by every LocalBackend instance. Adapters are loaded into that one model by name, so
switching between the base model and an adapter costs nothing; but the switch is model-wide
state, so generations take turns (a lock, with a time limit on waiting for it).

Generation runs in a thread that feeds a TextIteratorStreamer; the caller iterates the
stream. Nothing waits forever: the lock, the streamer's queue and the thread join all have
time limits, and any of them running out cancels the generation and raises BackendTimeout
or BackendBusy. Cancelling is a threading.Event checked by a StoppingCriteria after every
token; closing the stream sets it too, so an abandoned stream stops the model.

Constrained decoding compiles the structural tag once per distinct constraint (the cache
is keyed by its canonical text) and makes a new logits processor for every generation,
because a grammar matcher holds the state of one output.

torch runs on half the cores by default (BackendSettings.torch_threads; the setting
WEFT_TORCH_THREADS if the project defines it): see default_torch_threads for why.

torch, transformers and xgrammar are imported here only, inside functions: importing
serving (or this module) does not load them.
"""

import contextlib
import functools
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from serving.backend import (
    BASE_MODEL,
    AdapterError,
    BackendBusy,
    BackendError,
    BackendSettings,
    BackendTimeout,
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
from serving.model_files import base_model_dir, load_base_model
from serving.stop_text import StopText

LOCK_WAIT_S = 120.0  # how long a request waits for another generation to finish
TOKEN_WAIT_S = 60.0  # longest gap between two streamed pieces (prompt prefill included)
MAX_GRAMMARS = 64  # compiled grammars kept (a few ms to compile one again)
ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class _Engine:
    """The process's one model, its tokenizer, loaded adapters and compiled grammars."""

    folder: Path
    model: Any
    tokenizer: Any
    adapters: dict[str, str] = field(default_factory=dict)  # name -> folder it came from
    # constraint text -> compiled, most recent last. Bounded: each turn's records make its own
    # grammar (serving.grounding), so a long-running process would otherwise keep them all.
    grammars: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    compiler: Any = None
    # Held by one generation (or adapter change) at a time; released by the worker thread.
    busy: threading.Lock = field(default_factory=threading.Lock)


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def default_torch_threads() -> int:
    """Half the cores, at least one.

    Decoding a 135M model multiplies small matrices, so extra threads buy little, and on a
    busy machine (web, worker and training processes share the cores) torch's spinning
    threads cost a lot: measured on 2 shared cores, 20 tokens took 3 s on one thread and
    8-56 s on two.
    """
    return max(1, (os.cpu_count() or 2) // 2)


def _load_engine(model_dir: Path, torch_threads: int | None = None) -> _Engine:
    global _engine
    folder = base_model_dir(model_dir)
    with _engine_lock:
        if _engine is None or _engine.folder != folder:
            import torch

            # Process-wide, so set once, when the process's one model is loaded.
            torch.set_num_threads(torch_threads or default_torch_threads())
            model, tokenizer = load_base_model(model_dir)
            _engine = _Engine(folder=folder, model=model, tokenizer=tokenizer)
        return _engine


class LocalBackend:
    name: ClassVar[str] = "local"
    supports_constraints: ClassVar[bool] = True

    def __init__(self, config: BackendSettings) -> None:
        self.model_dir = Path(config.model_dir)
        self.torch_threads = config.torch_threads

    def _loaded(self) -> _Engine:
        return _load_engine(self.model_dir, self.torch_threads)

    # ------------------------------------------------------------ models and adapters

    def models(self) -> list[ModelInfo]:
        engine = self._loaded()
        adapters = [
            ModelInfo(name=name, kind="adapter", path=path)
            for name, path in sorted(engine.adapters.items())
        ]
        return [ModelInfo(name=BASE_MODEL, kind="base", path=str(engine.folder)), *adapters]

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load (or reload, after retraining) the peft adapter in `path` as model `name`."""
        if name == BASE_MODEL or not ADAPTER_NAME.fullmatch(name):
            raise AdapterError(f"{name!r} cannot name an adapter (letters, digits, _ . -).")
        folder = Path(path)
        if not (folder / "adapter_config.json").is_file():
            raise AdapterError(f"No peft adapter in {folder} (adapter_config.json is missing).")
        engine = self._loaded()
        with _holding(engine):
            if name in engine.adapters:
                engine.model.delete_adapter(name)
                del engine.adapters[name]
            try:
                engine.model.load_adapter(str(folder), adapter_name=name)
            except (OSError, ValueError, RuntimeError, KeyError) as error:
                raise AdapterError(
                    f"The adapter in {folder} could not be loaded: {error}"
                ) from error
            engine.adapters[name] = str(folder)

    def unload_adapter(self, name: str) -> None:
        engine = self._loaded()
        with _holding(engine):
            if name not in engine.adapters:
                raise UnknownModel(f"No adapter named {name!r} is loaded.")
            engine.model.delete_adapter(name)
            del engine.adapters[name]

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
        if not messages:
            raise InvalidRequest("A completion needs at least one message.")
        engine = self._loaded()
        if model != BASE_MODEL and model not in engine.adapters:
            raise UnknownModel(f"No model named {model!r}; loaded: {self._names(engine)}.")
        prompt_ids, prefix = _prompt(engine.tokenizer, messages)
        processors = [] if constraint is None else [_grammar_processor(engine, constraint, prefix)]
        return self._generate(
            engine, prompt_ids, model, sampling, processors, cancel or threading.Event(), started
        )

    @staticmethod
    def _names(engine: _Engine) -> str:
        return ", ".join([BASE_MODEL, *sorted(engine.adapters)])

    def _generate(self, engine, prompt_ids, model, sampling, processors, cancel, started):
        # A generator, so the checks in stream() raise at the call, before any iteration.
        from transformers import TextIteratorStreamer

        halt = threading.Event()  # a stop string was reached: not a cancellation
        if not engine.busy.acquire(timeout=LOCK_WAIT_S):
            raise BackendBusy("The model is busy with another answer; try again shortly.")
        streamer = TextIteratorStreamer(
            engine.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=TOKEN_WAIT_S
        )
        worker = _Worker(engine, prompt_ids, model, sampling, processors, streamer, (cancel, halt))
        worker.start()  # from here on the worker owns engine.busy and releases it
        stop_text = StopText(sampling.stop)
        first_token_at = None
        drained = False
        try:
            for piece in _pieces(streamer, cancel):
                text = stop_text.feed(piece)
                if text:
                    first_token_at = first_token_at or time.monotonic()
                    yield TextDelta(text=text)
                if stop_text.hit:
                    halt.set()
                    break
            if not stop_text.hit and (rest := stop_text.flush()):
                first_token_at = first_token_at or time.monotonic()
                yield TextDelta(text=rest)
            drained = True
        finally:
            # The caller closed the stream early (or it timed out): the model must not go on.
            if not drained:
                cancel.set()
        if not worker.done.wait(TOKEN_WAIT_S):
            raise BackendTimeout("The model did not stop within its time limit.")
        if worker.error is not None:
            raise worker.error
        finished = time.monotonic()
        generated = worker.generated_tokens
        if cancel.is_set():
            reason = "cancelled"
        elif not stop_text.hit and generated >= sampling.max_tokens:
            reason = "length"
        else:
            reason = "stop"
        yield Completion(
            model=model,
            prompt_tokens=int(prompt_ids.shape[-1]),
            completion_tokens=generated,
            seconds=finished - started,
            first_token_seconds=None if first_token_at is None else first_token_at - started,
            finish_reason=reason,
        )


def _pieces(streamer, cancel: threading.Event) -> Iterator[str]:
    import queue

    try:
        yield from streamer
    except queue.Empty:
        cancel.set()
        raise BackendTimeout(
            f"The model produced nothing for {TOKEN_WAIT_S:.0f} s; the answer was stopped."
        ) from None


class _Worker(threading.Thread):
    """Runs one generate() call; releases the engine when done, whatever happens."""

    def __init__(self, engine, prompt_ids, model, sampling, processors, streamer, events):
        super().__init__(name="weft-generate", daemon=True)
        self.engine, self.prompt_ids, self.model_name = engine, prompt_ids, model
        self.sampling, self.processors, self.streamer = sampling, processors, streamer
        self.events = events
        self.done = threading.Event()
        self.error: BackendError | None = None
        self.generated_tokens = 0

    def run(self) -> None:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        try:
            model = self.engine.model
            _select(self.engine, self.model_name)
            options: dict[str, Any] = {"do_sample": not self.sampling.greedy}
            if not self.sampling.greedy:
                options.update(temperature=self.sampling.temperature, top_p=self.sampling.top_p)
                if self.sampling.seed is not None:
                    torch.manual_seed(self.sampling.seed)  # safe: generations take turns
            with torch.inference_mode():
                output = model.generate(
                    input_ids=self.prompt_ids,
                    attention_mask=torch.ones_like(self.prompt_ids),
                    max_new_tokens=self.sampling.max_tokens,
                    streamer=self.streamer,
                    logits_processor=LogitsProcessorList(self.processors),
                    stopping_criteria=StoppingCriteriaList([_event_criteria(self.events)]),
                    pad_token_id=self.engine.tokenizer.eos_token_id,
                    **options,
                )
            self.generated_tokens = int(output.shape[-1] - self.prompt_ids.shape[-1])
        except BackendError as error:
            self.error = error
        except Exception as error:
            self.error = BackendError(f"The model failed while answering: {error}")
        finally:
            if self.error is not None:
                self.streamer.end()  # generate() failed before ending the stream itself
            self.engine.busy.release()
            self.done.set()


def _select(engine: _Engine, name: str) -> None:
    if not engine.adapters:
        return  # a plain model: nothing to switch
    if name == BASE_MODEL:
        engine.model.disable_adapters()
    else:
        engine.model.enable_adapters()
        engine.model.set_adapter(name)


@contextlib.contextmanager
def _holding(engine: _Engine) -> Iterator[None]:
    """Hold the engine between generations, with the same time limit as a generation."""
    if not engine.busy.acquire(timeout=LOCK_WAIT_S):
        raise BackendBusy("The model is busy with another answer; try again shortly.")
    try:
        yield
    finally:
        engine.busy.release()


def _prompt(tokenizer, messages: Sequence[ChatMessage]):
    """Token ids of the chat, and the assistant prefix being continued ("" if none)."""
    continuing = messages[-1].role == "assistant"
    ids = tokenizer.apply_chat_template(
        [m.as_dict() for m in messages],
        add_generation_prompt=not continuing,
        continue_final_message=continuing,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    return ids, messages[-1].content if continuing else ""


@functools.cache
def _event_criteria_class():
    from transformers import StoppingCriteria

    class EventCriteria(StoppingCriteria):
        def __init__(self, events) -> None:
            self.events = events

        def __call__(self, input_ids, scores, **kwargs):
            import torch

            stop = any(event.is_set() for event in self.events)
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool)

    return EventCriteria


def _event_criteria(events):
    return _event_criteria_class()(events)


def _grammar_processor(engine: _Engine, constraint: Constraint, prefix: str):
    compiled = _compiled(engine, constraint)
    return _grammar_processor_class()(compiled, prefix)


def _compiled(engine: _Engine, constraint: Constraint):
    import xgrammar as xgr

    with _engine_lock:
        if constraint.structural_tag in engine.grammars:
            engine.grammars.move_to_end(constraint.structural_tag)
        else:
            if engine.compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(
                    engine.tokenizer, vocab_size=engine.model.config.vocab_size
                )
                engine.compiler = xgr.GrammarCompiler(info)
            try:
                grammar = engine.compiler.compile_structural_tag(constraint.structural_tag)
            except Exception as error:
                raise InvalidRequest(f"The widget constraint does not compile: {error}") from error
            engine.grammars[constraint.structural_tag] = grammar
            while len(engine.grammars) > MAX_GRAMMARS:
                engine.grammars.popitem(last=False)
        return engine.grammars[constraint.structural_tag]


@functools.cache
def _grammar_processor_class():
    import xgrammar as xgr
    from transformers import LogitsProcessor

    class GrammarLogitsProcessor(LogitsProcessor):
        """xgrammar's contrib.hf processor, for one output, that first reads the prefix.

        The assistant prefix is already in the prompt, so the matcher must read it before
        the first new token; the contrib processor always starts from an empty output.
        """

        def __init__(self, compiled, prefix: str) -> None:
            self.matcher = xgr.GrammarMatcher(compiled)
            if prefix and not self.matcher.accept_string(prefix):
                raise InvalidRequest("The assistant prefix already breaks the widget constraint.")
            self.bitmask = xgr.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
            self.started = False

        def __call__(self, input_ids, scores):
            if input_ids.shape[0] != 1:
                raise InvalidRequest("Constrained decoding takes one sequence at a time.")
            if self.started and not self.matcher.is_terminated():
                token = int(input_ids[0, -1])
                if not self.matcher.accept_token(token):
                    raise BackendError(f"The grammar rejected token {token} it allowed.")
            self.started = True
            if not self.matcher.is_terminated():
                self.matcher.fill_next_token_bitmask(self.bitmask)
                xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
            return scores

    return GrammarLogitsProcessor
