"""finetune.training.run: labels, config checks, loss accounting, training, resume and cancel.

The slow tests train the real base model for a few steps on tiny rows (a few seconds a
step on 2 shared cores). One uninterrupted run (a module fixture) serves several of them.
"""

import itertools
import json
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from demo.widget_files import demo_widget_specs
from finetune.training.config import MAX_LORA_RANK, TrainConfig, TrainConfigError
from finetune.training.data import (
    IGNORE_INDEX,
    TrainDataError,
    encode_row,
    preflight,
    step_plan,
)
from serving.prompts import WidgetSpec, widget_block

CONTEXT = {"listings": [{"mls_id": "TX-10492", "address": "12 Oak St", "price": 449000}]}
CARD = {"mls_id": "TX-10492", "address": "12 Oak St", "price": 449000}


def _row(number: int, question: str, answer: str, context=CONTEXT) -> dict:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
        "context": context,
        "meta": {"id": f"t-{number}"},
    }


ROWS = [
    _row(1, "Anything at 12 Oak St?", "Yes:\n" + widget_block("listing_card", CARD)),
    _row(2, "How much is TX-10492?", "It is listed at $449,000."),
    _row(3, "Hi there", "Hello! Ask me about homes.", context={}),
    _row(4, "Show TX-10492", widget_block("listing_card", CARD) + "\nWant a tour?"),
]
TWO_TURNS = {
    "messages": [
        {"role": "user", "content": "Find me homes in Austin"},
        {"role": "assistant", "content": "Here is one: 12 Oak St."},
        {"role": "user", "content": "What does it cost?"},
        {"role": "assistant", "content": "It costs $449,000."},
    ],
    "context": CONTEXT,
    "meta": {"id": "two-turns"},
}
# Tiny and fast: a few steps, a high rate so a handful of steps visibly lowers the loss.
FAST = {
    "max_steps": 4,
    "batch_rows": 2,
    "learning_rate": 1e-3,
    "warmup_ratio": 0.0,
    "checkpoint_every": 2,
    "eval_every": 0,
    "max_seq_len": 512,
    "torch_threads": 1,  # as one_torch_thread: the cores are shared with other tests' work
    "workers": 2,  # data parallel, as the demo tune on 2 cores; one process is tested below
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """As training does: on 2 shared cores, 2 torch threads run several times slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def specs() -> list[WidgetSpec]:
    return demo_widget_specs()


@pytest.fixture(scope="module")
def model_dir() -> Path:
    from serving.model_files import ensure_base_model

    ensure_base_model(Path(settings.WEFT_MODEL_DIR))  # converted once, shared with serving tests
    return Path(settings.WEFT_MODEL_DIR)


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    from serving.model_files import base_model_dir

    return AutoTokenizer.from_pretrained(base_model_dir(model_dir))


# ---------------------------------------------------------------- config


def test_bad_hyper_parameters_name_every_field():
    config = TrainConfig(rank=MAX_LORA_RANK + 1, learning_rate=0, epochs=0, batch_rows=0)
    with pytest.raises(TrainConfigError) as caught:
        config.validate()
    named = {problem.split(":")[0] for problem in caught.value.problems}
    assert named == {"rank", "learning_rate", "epochs", "batch_rows"}
    assert str(MAX_LORA_RANK) in next(p for p in caught.value.problems if p.startswith("rank"))


def test_unknown_keys_are_refused_and_dicts_round_trip():
    with pytest.raises(TrainConfigError) as caught:
        TrainConfig.from_dict({"learning_rat": 1e-4, "rank": 8})
    assert [p.split(":")[0] for p in caught.value.problems] == ["learning_rat"]
    config = TrainConfig.from_dict({"rank": 8, "target_modules": ["q_proj", "v_proj"]})
    assert TrainConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    assert TrainConfig().validate() == TrainConfig()


# ---------------------------------------------------------------- rows to tokens


def test_preflight_loss_is_the_assistant_turns_and_their_end_token(specs, tokenizer):
    tokens = preflight(TWO_TURNS, widgets=specs, tokenizer=tokenizer, manual=False)
    trained = "".join(text for text, loss in tokens if loss)
    assert trained == "Here is one: 12 Oak St.<|im_end|>It costs $449,000.<|im_end|>"
    untrained = "".join(text for text, loss in tokens if not loss)
    for text in ("Find me homes in Austin", "What does it cost?", '"mls_id": "TX-10492"'):
        assert text in untrained  # the user's words and the records never carry loss
    assert "<|im_start|>assistant\n" in untrained
    # The ids are those of the whole chat tokenized at once, as the chat sends it.
    from finetune.training.data import chat_messages

    encoded = encode_row(TWO_TURNS, widgets=specs, tokenizer=tokenizer, manual=False)
    whole = tokenizer.apply_chat_template(
        chat_messages(TWO_TURNS, specs, manual=False), tokenize=True, return_dict=True
    )["input_ids"]
    assert encoded.input_ids == list(whole)
    assert [t for t, _ in tokens] == [tokenizer.decode([i]) for i in whole]


def test_manual_prompt_is_longer_and_trains_the_same_tokens(specs, tokenizer):
    short = encode_row(ROWS[0], widgets=specs, tokenizer=tokenizer, manual=False)
    manual = encode_row(ROWS[0], widgets=specs, tokenizer=tokenizer, manual=True)
    assert len(manual.input_ids) > 3 * len(short.input_ids)
    kept = [label for label in short.labels if label != IGNORE_INDEX]
    assert kept == [label for label in manual.labels if label != IGNORE_INDEX]


def test_step_plan_visits_every_row_once_per_epoch_and_is_repeatable():
    plan = step_plan(10, batch_rows=4, epochs=2, max_steps=None, seed=7)
    assert [len(step) for step in plan] == [4, 4, 2, 4, 4, 2]
    first, second = (sorted(i for step in half for i in step) for half in (plan[:3], plan[3:]))
    assert first == second == list(range(10))
    assert plan == step_plan(10, batch_rows=4, epochs=2, max_steps=None, seed=7)
    assert len(step_plan(10, batch_rows=4, epochs=1, max_steps=7, seed=7)) == 7
    with pytest.raises(TrainDataError):
        step_plan(0, batch_rows=4, epochs=1, max_steps=None, seed=7)


def test_learning_rate_warms_up_then_decays_to_zero():
    from finetune.training.run import learning_rate_at

    config = TrainConfig(learning_rate=1e-3, warmup_ratio=0.1)
    rates = [learning_rate_at(step, 100, config) for step in range(100)]
    assert rates[0] < rates[5] < rates[10] == pytest.approx(1e-3)
    assert rates[99] < 1e-5 and all(a >= b for a, b in itertools.pairwise(rates[10:]))


def test_rows_are_shared_out_by_length_the_same_in_every_process():
    from finetune.training.parallel import shares

    lengths = [400, 90, 380, 120, 300, 310, 50, 60]
    split = shares(lengths, 2)
    assert sorted(i for share in split for i in share) == list(range(8))  # each row once
    loads = [sum(lengths[i] for i in share) for share in split]
    assert abs(loads[0] - loads[1]) <= max(lengths) / 4, loads
    assert shares(lengths, 2) == split  # a pure function: no process needs to ask another
    assert shares([100], 3) == [[0], [], []]  # an empty share still joins the gradient sum


def test_a_half_written_checkpoint_is_never_resumed_from(tmp_path):
    from finetune.training.checkpoints import checkpoint_dir, latest_checkpoint

    assert latest_checkpoint(tmp_path) is None
    for step in (2, 4):
        checkpoint_dir(tmp_path, step).mkdir(parents=True)
        (checkpoint_dir(tmp_path, step) / "state.json").write_text("{}")
    (tmp_path / "checkpoints" / ".writing-step-00006-999").mkdir()  # a worker died here
    (checkpoint_dir(tmp_path, 8)).mkdir()  # no state.json: not a checkpoint
    assert latest_checkpoint(tmp_path) == checkpoint_dir(tmp_path, 4)


def test_empty_train_set_is_refused(specs, tmp_path):
    from finetune.training.run import run_training

    with pytest.raises(TrainDataError):
        run_training(TrainConfig(), [], widgets=specs, model_dir=tmp_path, out_dir=tmp_path)


# ---------------------------------------------------------------- loss accounting


@pytest.mark.slow
def test_row_at_a_time_loss_and_gradients_equal_one_padded_batch(specs, tokenizer, model_dir):
    """No packing across rows, so nothing can attend across rows; what must be right is the
    accounting: rows run one at a time, summed and divided by the step's loss tokens, equal
    one padded batch through plain transformers (mean over all label tokens), in loss and
    in every LoRA gradient."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from finetune.training.run import row_loss_sum
    from serving.model_files import base_model_dir

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(base_model_dir(model_dir), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "down_proj"]))
    with torch.no_grad():  # B starts at zero; make the adapter do something
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.02)
    rows = [encode_row(r, widgets=specs, tokenizer=tokenizer, manual=False) for r in ROWS[:3]]
    count = sum(row.loss_tokens for row in rows)
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}

    total = 0.0
    for row in rows:
        loss_sum, _ = row_loss_sum(model, row, bf16=False)
        (loss_sum / count).backward()
        total += loss_sum.item()
    ours = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()

    width = max(len(row.input_ids) for row in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r.input_ids + [pad] * (width - len(r.input_ids)) for r in rows])
    labels = torch.tensor([r.labels + [IGNORE_INDEX] * (width - len(r.labels)) for r in rows])
    mask = torch.tensor([[1] * len(r.input_ids) + [0] * (width - len(r.input_ids)) for r in rows])
    reference = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    reference.backward()

    assert total / count == pytest.approx(reference.item(), rel=1e-4)
    for name, param in lora.items():
        torch.testing.assert_close(ours[name], param.grad, rtol=1e-3, atol=1e-6)


def test_detached_prompt_keeps_the_loss_and_trains_through_the_answer_only(
    specs, tokenizer, model_dir
):
    """detach_prompt runs the prompt under no_grad and the answer on its cached keys and
    values. Reference: the plain forward pass with every LoRA update detached at the prompt's
    positions (a hook on lora_B), which reaches the adapter only through the answer too.
    The loss must be the same as without detaching, and the gradients those of the reference
    (and not those of plain training, or the test would not tell them apart)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from finetune.training.run import row_loss_sum
    from serving.model_files import base_model_dir

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(base_model_dir(model_dir), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.02)
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    row = encode_row(ROWS[1], widgets=specs, tokenizer=tokenizer, manual=False)
    cut = next(i for i, label in enumerate(row.labels[1:]) if label != IGNORE_INDEX)

    def grads(**kwargs):
        model.zero_grad()
        loss_sum, _ = row_loss_sum(model, row, bf16=False, **kwargs)
        loss_sum.backward()
        return loss_sum.item(), {n: p.grad.clone() for n, p in lora.items()}

    plain_loss, plain = grads()
    detached_loss, detached = grads(detach_prompt=True)

    def prompt_detached(module, inputs, output):
        return torch.cat([output[:, :cut].detach(), output[:, cut:]], dim=1)

    hooks = [
        m.register_forward_hook(prompt_detached)
        for n, m in model.named_modules()
        if n.endswith("lora_B.default")
    ]
    reference_loss, reference = grads()
    for hook in hooks:
        hook.remove()

    assert detached_loss == pytest.approx(plain_loss, rel=1e-5)
    assert reference_loss == pytest.approx(plain_loss, rel=1e-5)
    for name in lora:
        torch.testing.assert_close(detached[name], reference[name], rtol=1e-3, atol=1e-6)
    # At the same tolerance, plain training's gradients are told apart from these.
    assert any(not torch.allclose(plain[n], detached[n], rtol=1e-3, atol=1e-6) for n in lora)


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def uninterrupted(specs, model_dir, tmp_path_factory):
    from finetune.training.run import run_training

    seen = []
    result = run_training(
        TrainConfig.from_dict(FAST),
        ROWS,
        ROWS[:2],
        widgets=specs,
        model_dir=model_dir,
        out_dir=tmp_path_factory.mktemp("uninterrupted"),
        on_progress=seen.append,
    )
    return result, seen


def _adapter_loss(model_dir, adapter_dir, rows) -> float:
    """Mean loss over the rows' loss tokens, of the base model or base + adapter (plain peft)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.training.run import evaluate
    from serving.model_files import base_model_dir

    model = AutoModelForCausalLM.from_pretrained(base_model_dir(model_dir), dtype=torch.float32)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, adapter_dir)
    return evaluate(model, rows, bf16=False)


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_adapter_loads_in_plain_peft(
    uninterrupted, specs, tokenizer, model_dir
):
    result, seen = uninterrupted
    assert [p.step for p in seen] == [1, 2, 3, 4] and seen[-1].total_steps == 4
    assert seen[-1].eval_loss is not None and seen[-1].tokens_per_s > 0
    assert result.row_ids == ["t-1", "t-2", "t-3", "t-4"] and result.manual_prompt is False
    assert [point["step"] for point in result.metrics["history"]] == [1, 2, 3, 4]
    rows = [encode_row(r, widgets=specs, tokenizer=tokenizer, manual=False) for r in ROWS]
    before = _adapter_loss(model_dir, None, rows)
    after = _adapter_loss(model_dir, result.adapter_dir, rows)
    assert after < 0.8 * before, (before, after)


def _helpers(out_dir: Path) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", f"finetune.training.worker {out_dir}"], capture_output=True, text=True
    )
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.slow
def test_one_process_trains_what_two_processes_train(uninterrupted, specs, model_dir, tmp_path):
    from safetensors.torch import load_file

    from finetune.training.run import run_training

    seen = []
    result = run_training(
        TrainConfig.from_dict({**FAST, "workers": 1}), ROWS, ROWS[:2], widgets=specs,
        model_dir=model_dir, out_dir=tmp_path, on_progress=seen.append,
    )  # fmt: skip
    parallel, parallel_seen = uninterrupted
    assert parallel.config.workers == 2 and result.config.workers == 1
    # The same maths; only the order of the float sums differs.
    assert [p.loss for p in seen] == pytest.approx([p.loss for p in parallel_seen], rel=1e-4)
    assert seen[-1].eval_loss == pytest.approx(parallel_seen[-1].eval_loss, rel=1e-4)
    ours = load_file(Path(result.adapter_dir) / "adapter_model.safetensors")
    theirs = load_file(Path(parallel.adapter_dir) / "adapter_model.safetensors")
    for name in ours:
        assert (ours[name] - theirs[name]).abs().max() < 1e-4, name
    assert not _helpers(parallel.adapter_dir.parent)  # the helper left with its run


@pytest.mark.slow
def test_a_dead_helper_fails_the_run_clearly_and_resume_finishes_it(
    uninterrupted, specs, model_dir, tmp_path
):
    import os
    import signal

    from finetune.training.parallel import ParallelError
    from finetune.training.run import run_training

    seen = []

    def kill_helper_after_two(progress) -> None:
        seen.append(progress)
        if progress.step == 2:
            for pid in _helpers(tmp_path):
                os.kill(pid, signal.SIGKILL)

    common = {"widgets": specs, "model_dir": model_dir, "out_dir": tmp_path}
    config = TrainConfig.from_dict(FAST)
    with pytest.raises(ParallelError, match="stopped answering"):
        run_training(config, ROWS, ROWS[:2], on_progress=kill_helper_after_two, **common)
    assert [p.step for p in seen] == [1, 2] and not (tmp_path / "adapter").exists()

    resumed = []
    result = run_training(config, ROWS, ROWS[:2], on_progress=resumed.append, **common)
    assert [p.step for p in resumed] == [2, 3, 4] and result.resumed_from_step == 2
    _, reference_seen = uninterrupted
    assert [p.loss for p in resumed[1:]] == pytest.approx(
        [p.loss for p in reference_seen[2:]], rel=1e-5
    )


@pytest.mark.slow
def test_adapter_is_plain_lora_with_no_new_tokens(uninterrupted, tokenizer):
    from safetensors import safe_open

    result, _ = uninterrupted
    folder = Path(result.adapter_dir)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["lora_alpha"] == 32
    assert not config.get("modules_to_save") and not config.get("trainable_token_indices")
    assert set(config["target_modules"]) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }  # fmt: skip
    with safe_open(folder / "adapter_model.safetensors", "pt") as weights:
        names = list(weights.keys())
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    assert all(n.startswith("base_model.model.model.layers.") for n in names)  # vLLM's names
    assert len(tokenizer) == 49152  # nothing was added
    record = json.loads((folder / "weft-training.json").read_text())
    assert record["manual_prompt"] is False and record["row_ids"] == result.row_ids


@pytest.mark.slow
def test_cancel_leaves_a_checkpoint_and_resume_ends_with_the_same_adapter(
    uninterrupted, specs, model_dir, tmp_path
):
    import torch
    from safetensors.torch import load_file

    from finetune.training.run import TrainCancelled, run_training

    seen = []

    def stop_after_two() -> bool:
        return bool(seen) and seen[-1].step >= 2

    common = {"widgets": specs, "model_dir": model_dir, "out_dir": tmp_path}
    with pytest.raises(TrainCancelled) as caught:
        run_training(
            TrainConfig.from_dict(FAST),
            ROWS,
            ROWS[:2],
            on_progress=seen.append,
            should_stop=stop_after_two,
            **common,
        )
    assert caught.value.step == 2 and [p.step for p in seen] == [1, 2]  # stopped at once
    assert caught.value.checkpoint == tmp_path / "checkpoints" / "step-00002"
    assert not (tmp_path / "adapter").exists()

    # A new worker with different operational settings picks the job up again.
    resumed = []
    config = TrainConfig.from_dict({**FAST, "checkpoint_every": 3, "learning_rate": 5e-4})
    result = run_training(config, ROWS, ROWS[:2], on_progress=resumed.append, **common)
    # The first record says where it stands (the checkpoint's step and loss), then new steps.
    assert [p.step for p in resumed] == [2, 3, 4] and resumed[0].resumed_from_step == 2
    assert resumed[0].loss == seen[-1].loss and resumed[0].eta_s > 0
    assert result.resumed_from_step == 2
    assert result.config.learning_rate == 1e-3  # the checkpoint's, not the new worker's
    assert result.config.checkpoint_every == 3
    assert [p["step"] for p in result.metrics["history"]] == [1, 2, 3, 4]

    reference, reference_seen = uninterrupted
    assert [p.loss for p in reference_seen] == pytest.approx(
        [p.loss for p in seen + resumed[1:]], rel=1e-5
    )
    ours = load_file(Path(result.adapter_dir) / "adapter_model.safetensors")
    theirs = load_file(Path(reference.adapter_dir) / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-7)
