"""LocalBackend on the real model (SmolLM2-135M-Instruct on the CPU; slow but part of CI).

Generations are kept short: the machine running CI has two shared cores.
"""

import queue
import threading

import pytest

from serving import local
from serving.backend import (
    AdapterError,
    BackendSettings,
    BackendTimeout,
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
from widgets.markup import Outcome, parse_markup

HI = [ChatMessage(role="user", content="Say hello to Ana in one short sentence.")]

# (widget the assistant prefix opens, user turn, context records)
WIDGET_CASES = [
    ("listing_card", "Anything 3 bed in Round Rock?", {"listings": [
        {"mls_id": "TX-20381", "address": "7 Pine Rd", "city": "Round Rock", "price": 389000,
         "beds": 3, "baths": 2, "sqft": 1500, "status": "active"}]}),
    ("listing_card", "Tell me about the Elm St condo.", {"listings": [
        {"mls_id": "TX-55012", "address": "88 Elm St #4", "city": "Austin", "price": 315000,
         "beds": 2, "baths": 1.5, "sqft": 980, "status": "pending"}]}),
    ("contact_card", "Who is the listing agent for 12 Oak St?", {"contacts": [
        {"name": "Maria Gonzalez", "role": "agent", "phone": "+1 (512) 555-0142"}]}),
]  # fmt: skip


def opened(widget: str, user: str, context: dict, specs) -> list[ChatMessage]:
    prefix = ChatMessage(role="assistant", content=f'Here you go:\n<widget type="{widget}">')
    # The short prompt: the grammar, not the manual, is what makes the block valid, and the
    # manual's ~1,500 tokens of prefill cost more than the whole answer on two CPU cores.
    turns = [ChatMessage(role="user", content=user), prefix]
    return build_messages(specs, turns, context, manual=True)


# ---------------------------------------------------------------- no model needed


def test_a_stalled_stream_times_out_and_cancels_the_generation():
    class Stalled:
        def __iter__(self):
            raise queue.Empty

    cancel = threading.Event()
    with pytest.raises(BackendTimeout):
        list(local._pieces(Stalled(), cancel))
    assert cancel.is_set()


def test_adapter_names_and_folders_are_checked_before_loading(tmp_path):
    backend = local.LocalBackend(BackendSettings(model_dir=tmp_path))
    with pytest.raises(AdapterError, match="cannot name"):
        backend.load_adapter("base", tmp_path)
    with pytest.raises(AdapterError, match=r"adapter_config\.json"):
        backend.load_adapter("tuned", tmp_path)


# ---------------------------------------------------------------- the real model


@pytest.mark.slow
def test_streams_text_deltas_then_one_usage_record(local_backend):
    items = list(local_backend.stream(HI, sampling=Sampling(max_tokens=8)))
    deltas, done = items[:-1], items[-1]
    assert deltas and all(isinstance(d, TextDelta) and d.text for d in deltas)
    assert isinstance(done, Completion)
    assert done.model == "base" and done.prompt_tokens > 10
    assert 0 < done.completion_tokens <= 8
    assert 0 < done.first_token_seconds <= done.seconds
    assert done.finish_reason in ("stop", "length")
    # Greedy by default: the same request gives the same text.
    assert complete(local_backend, HI, sampling=Sampling(max_tokens=8))[0] == "".join(
        d.text for d in deltas
    )


@pytest.mark.slow
def test_constrained_widgets_are_valid_every_time(local_backend, demo_specs, demo_validators):
    constraint = widget_constraint(demo_specs)
    sampling = Sampling(max_tokens=100)
    report = []
    for widget, user, context in WIDGET_CASES:
        messages = opened(widget, user, context, demo_specs)
        prefix = messages[-1].content
        outcomes = {}
        for mode, used in (("constrained", constraint), ("unconstrained", None)):
            text, done = complete(local_backend, messages, sampling=sampling, constraint=used)
            blocks = [s for s in parse_markup(prefix + text, demo_validators) if s.kind == "widget"]
            outcomes[mode] = blocks[0].outcome
            report.append(
                f"{mode:13} {widget:12} {blocks[0].outcome.value:12} "
                f"{done.completion_tokens:3} tokens {done.tokens_per_second:5.1f} tok/s  "
                f"{(prefix + text)[len('Here you go:') :]!r:.160}"
            )
            if used is not None:
                assert blocks[0].type == widget
                assert blocks[0].outcome is Outcome.VALID, (text, blocks[0].errors)
                # Any further block the model opened is held to the grammar too; only the
                # token limit may cut one off.
                assert all(
                    b.outcome in (Outcome.VALID, Outcome.UNTERMINATED) for b in blocks[1:]
                ), text
    # The comparison is measured, not asserted: the base model alone often gets it wrong.
    print("\n" + "\n".join(report))


@pytest.mark.slow
def test_a_grounded_card_holds_only_the_turns_record(local_backend, demo_specs, demo_validators):
    """The real model, made to open a card, can write nothing but what the records hold."""
    for widget, user, context in WIDGET_CASES:
        messages = opened(widget, user, context, demo_specs)
        constraint = widget_constraint(demo_specs, context)
        text, _ = complete(
            local_backend, messages, sampling=Sampling(max_tokens=100), constraint=constraint
        )
        prefix = messages[-1].content
        card = next(s for s in parse_markup(prefix + text, demo_validators) if s.kind == "widget")
        assert card.outcome is Outcome.VALID, (text, card.errors)
        (record,) = next(iter(context.values()))
        assert card.payload.items() <= record.items(), (card.payload, record)


@pytest.mark.slow
def test_a_prefix_that_already_breaks_the_constraint_is_refused(local_backend, demo_specs):
    messages = [*HI, ChatMessage(role="assistant", content='<widget type="floor_plan">')]
    with pytest.raises(InvalidRequest, match="prefix"):
        local_backend.stream(messages, constraint=widget_constraint(demo_specs))


@pytest.mark.slow
def test_cancel_stops_the_generation_and_says_so(local_backend):
    story = [ChatMessage(role="user", content="Write a long story about a cat.")]
    cancel = threading.Event()
    items = []
    for item in local_backend.stream(story, sampling=Sampling(max_tokens=200), cancel=cancel):
        items.append(item)
        cancel.set()  # after the first delta
    done = items[-1]
    assert done.finish_reason == "cancelled"
    assert done.completion_tokens < 20


@pytest.mark.slow
def test_closing_a_stream_early_frees_the_model(local_backend, monkeypatch):
    # If the abandoned generation kept the model, the next request would wait out this limit.
    monkeypatch.setattr(local, "LOCK_WAIT_S", 15.0)
    story = [ChatMessage(role="user", content="Write a long story about a dog.")]
    stream = local_backend.stream(story, sampling=Sampling(max_tokens=300))
    assert isinstance(next(stream), TextDelta)
    stream.close()
    _, done = complete(local_backend, HI, sampling=Sampling(max_tokens=3))
    assert done.completion_tokens <= 3


@pytest.mark.slow
def test_a_stop_string_ends_the_completion_and_is_not_returned(local_backend):
    text, done = complete(local_backend, HI, sampling=Sampling(max_tokens=30, stop=(" ",)))
    assert text and " " not in text
    assert done.finish_reason == "stop" and done.completion_tokens < 30


@pytest.mark.slow
def test_unknown_models_raise_the_typed_error(local_backend):
    with pytest.raises(UnknownModel, match="no-such-adapter"):
        local_backend.stream(HI, model="no-such-adapter")
    with pytest.raises(UnknownModel):
        local_backend.unload_adapter("no-such-adapter")


@pytest.mark.slow
def test_an_adapter_loads_serves_and_unloads(local_backend, base_model_folder, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    # A random (not zero-initialised) LoRA: it must change what the model says.
    torch.manual_seed(0)
    donor = AutoModelForCausalLM.from_pretrained(base_model_folder)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(donor, config).save_pretrained(tmp_path / "tuned")
    del donor

    sampling = Sampling(max_tokens=6)
    before = complete(local_backend, HI, sampling=sampling)[0]
    local_backend.load_adapter("tuned-test", tmp_path / "tuned")
    try:
        assert [m.name for m in local_backend.models()] == ["base", "tuned-test"]
        tuned, done = complete(local_backend, HI, model="tuned-test", sampling=sampling)
        assert done.model == "tuned-test" and tuned != before
        # The base model is still served unchanged while the adapter is loaded.
        assert complete(local_backend, HI, sampling=sampling)[0] == before
    finally:
        local_backend.unload_adapter("tuned-test")
    assert [m.name for m in local_backend.models()] == ["base"]
    assert complete(local_backend, HI, sampling=sampling)[0] == before
