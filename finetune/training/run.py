"""LoRA fine-tuning of the base model on conversation rows, on the CPU.

    result = run_training(config, train_rows, eval_rows, widgets=specs,
                          model_dir=model_dir, out_dir=work_dir, on_progress=print)
    result.adapter_dir  # out_dir/adapter: peft's save_pretrained (safetensors + config)

What it trains: rows formatted exactly as chat formats them (finetune.training.data), loss on
the assistant turns and their end-of-turn token only, LoRA on every linear layer of the
decoder, no new tokens. The adapter loads with plain `PeftModel.from_pretrained` and in vLLM
(peft's own module names, untouched). TrainResult.manual_prompt records which system prompt
form it learnt with; serve it the same form.

How it runs fast on 2 CPU cores (measured, see bench/train.py):
- no padding and no packing: each row runs alone at its own length and gradients
  accumulate over the step's rows. Packing rows into one sequence needs a block-diagonal
  mask, and sdpa on the CPU then computes the whole L x L attention (no causal skipping,
  slow backward); a row alone takes the plain causal path. Nothing is spent on padding.
- logits only where the next token carries loss (`logits_to_keep` with indices): the
  49152-wide output layer is a fifth of the model's work per token, and most tokens of a
  row are prompt and records.
- bf16 autocast where it measures faster than fp32 on this CPU; the frozen base weights
  are stored in bf16 once rather than cast on every step. LoRA weights, gradients and
  AdamW stay fp32.
- sdpa attention. Matmul ("eager") attention ran ~5-15% faster at the short prompt's
  lengths but keeps every layer's L x L weights for backward (+1.7 GB peak at ~450 tokens,
  gigabytes more with the manual prompt): not worth it on a shared machine.
- optionally (`detach_prompt`), the prompt runs forward only: no backward pass over the
  records, 1.3x faster, but off by default since it cost the demo adapter quality.
- one process per core, each step's rows shared among them (finetune.training.parallel):
  two 1-thread processes trained 1.8x one thread, 1.3x one process on 2 threads.

Checkpoints (finetune.training.checkpoints) every `checkpoint_every` steps and at the end. A run
that finds one in out_dir resumes from the newest: weights, optimiser, RNG, and the config
keys that shaped training so far come from it, so a worker that died continues the same run
and ends with the same adapter as an uninterrupted one. The step plan is a pure function of
the seed and the rows, and the learning rate a pure function of the step.

Cancelling: `should_stop()` is asked before every step; when it says yes, a checkpoint is
written and TrainCancelled is raised (the caller marks the job cancelled; running again with
the same out_dir would resume). Cancelling raises rather than returns so that no code path
can mistake a half-trained run for a finished adapter.

No Django: progress goes to `on_progress` and the service maps it to database rows.
"""

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.training.checkpoints import (
    checkpoint_dir,
    latest_checkpoint,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from finetune.training.config import TrainConfig
from finetune.training.data import (
    IGNORE_INDEX,
    EncodedRow,
    TrainDataError,
    encode_row,
    step_plan,
    steps_per_epoch,
)
from finetune.training.parallel import Command, Group
from serving.model_files import ensure_base_model
from serving.prompts import WidgetSpec

__all__ = [
    "Progress",
    "TrainCancelled",
    "TrainResult",
    "learning_rate_at",
    "run_training",
]

logger = logging.getLogger(__name__)
ADAPTER_FOLDER = "adapter"
TRAINING_RECORD = "weft-training.json"  # next to the adapter: prompt form, config, metrics
FINAL_LOSS_STEPS = 10  # the reported train loss is the mean of this many last steps


# ---------------------------------------------------------------- records


@dataclass(frozen=True, kw_only=True)
class Progress:
    """One line of progress, sent after every optimiser step (and evaluation)."""

    step: int  # optimiser steps done, counting those before a resume
    total_steps: int
    epoch: float  # passes over the training rows done, fractional
    loss: float  # this step's train loss (mean over its loss tokens)
    eval_loss: float | None  # set on the steps where the eval rows were scored
    learning_rate: float  # the rate this step used
    tokens_per_s: float  # tokens (prompt + answer, no padding) per second of training, this run
    eta_s: float  # seconds left at this run's pace
    elapsed_s: float  # seconds of training so far, earlier runs of a resumed job included
    trained_tokens: int
    resumed_from_step: int | None  # the checkpoint this run started from


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    adapter_dir: Path
    metrics: dict[str, Any]  # JSON-ready: losses, history, throughput, skipped rows
    row_ids: list[str]  # exactly the rows that trained the adapter (in the rows' order)
    config: TrainConfig  # resolved: bf16 decided, checkpoint keys applied on resume
    manual_prompt: bool
    resumed_from_step: int | None


class TrainCancelled(Exception):
    """should_stop() said stop; a checkpoint at `step` was left in `checkpoint`."""

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        super().__init__(f"training cancelled after step {step}")
        self.step = step
        self.checkpoint = checkpoint


@dataclass
class _RunState:
    """What a checkpoint carries besides the weights, and what this run has measured."""

    step: int = 0
    trained_tokens: int = 0
    loss_tokens: int = 0
    elapsed_s: float = 0.0  # earlier runs' training seconds
    history: list[dict] = field(default_factory=list)  # {step, loss, eval_loss}
    run_tokens: int = 0  # this run only, for tokens/s and ETA
    run_step_s: float = 0.0


# ---------------------------------------------------------------- the run


def run_training(
    config: TrainConfig,
    train_rows: Sequence[dict],
    eval_rows: Sequence[dict] = (),
    *,
    widgets: Sequence[WidgetSpec],
    model_dir: Path,
    out_dir: Path,
    on_progress: Callable[[Progress], None] = lambda progress: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    import torch
    from transformers import AutoTokenizer

    if not train_rows:
        raise TrainDataError("there are no training rows")
    out_dir = Path(out_dir)
    resume_from = latest_checkpoint(out_dir)
    if resume_from is not None:
        config = config.resumed_with(read_state(resume_from)["config"])
    config = _resolved(config.validate())
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    group, between_steps = None, False
    try:
        folder = ensure_base_model(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        train, skipped = _encode(train_rows, config, widgets, tokenizer)
        evaluation, _ = _encode(eval_rows, config, widgets, tokenizer)
        if not train:
            raise TrainDataError(f"no training row fits in max_seq_len={config.max_seq_len}")
        plan = step_plan(
            len(train),
            batch_rows=config.batch_rows,
            epochs=config.epochs,
            max_steps=config.max_steps,
            seed=config.seed,
        )
        if config.workers > 1:  # the helpers load their model while this one loads its own
            spec = parallel_spec(config, folder, train, evaluation, plan, resume_from)
            group = Group.start(config.workers, spec, out_dir)
        model = lora_model(config, folder)
        per_epoch = steps_per_epoch(len(train), config.batch_rows)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = new_optimizer(params, config)
        run = _RunState()
        if group is not None:
            group.same_as_rank0(params)
        if resume_from is not None:
            # Loaded after the broadcast above: the helpers load the same checkpoint.
            state = load_checkpoint(resume_from, model=model, optimizer=optimizer)
            if state["row_ids"] != [row.row_id for row in train]:
                raise TrainDataError(
                    f"{resume_from} was trained on other rows; start in an empty out_dir"
                )
            run = _RunState(
                step=state["step"],
                trained_tokens=state["trained_tokens"],
                loss_tokens=state["loss_tokens"],
                elapsed_s=state["elapsed_s"],
                history=state["history"],
            )
        resumed_at = run.step if resume_from is not None else None
        if resume_from is not None and run.history:
            # Say where training stands before the first new step (minutes away on a CPU).
            logger.info("resuming %s at step %d", out_dir, run.step)
            point = run.history[-1]
            lr = learning_rate_at(run.step - 1, len(plan), config)
            on_progress(
                _progress(
                    run, len(plan), per_epoch, point["loss"], point["eval_loss"], lr, run.step
                )
            )

        def checkpoint() -> Path:
            return save_checkpoint(
                out_dir,
                step=run.step,
                model=model,
                optimizer=optimizer,
                state=_checkpoint_state(config, train, run),
            )

        saved = resume_from  # the newest checkpoint of this run's state
        while run.step < len(plan):
            if should_stop():
                if run.step > 0 and saved != checkpoint_dir(out_dir, run.step):
                    saved = checkpoint()
                between_steps = True
                raise TrainCancelled(run.step, saved)
            started = time.monotonic()
            lr = learning_rate_at(run.step, len(plan), config)
            batch = [train[i] for i in plan[run.step]]
            if group is not None:
                group.send(Command.TRAIN, run.step)
            loss = train_step(model, optimizer, params, batch, lr=lr, config=config, group=group)
            tokens = sum(len(row.input_ids) for row in batch)
            run.step += 1
            run.trained_tokens += tokens
            run.loss_tokens += sum(row.loss_tokens for row in batch)
            run.run_tokens += tokens
            run.run_step_s += time.monotonic() - started
            eval_loss = None
            last = run.step == len(plan)
            if evaluation and (last or (config.eval_every and run.step % config.eval_every == 0)):
                if group is not None:
                    group.send(Command.EVALUATE)
                eval_loss = evaluate(model, evaluation, bf16=config.bf16, group=group)
            run.history.append({"step": run.step, "loss": loss, "eval_loss": eval_loss})
            on_progress(_progress(run, len(plan), per_epoch, loss, eval_loss, lr, resumed_at))
            if last or run.step % config.checkpoint_every == 0:
                saved = checkpoint()
        # With max_steps short of an epoch, rows the plan never reached did not train it.
        seen = sorted({i for step in plan for i in step})
        row_ids = [train[i].row_id for i in seen]
        metrics = _metrics(config, train, skipped, run)
        between_steps = True
        return TrainResult(
            adapter_dir=_save_adapter(model, out_dir, config, row_ids, metrics),
            metrics=metrics,
            row_ids=row_ids,
            config=config,
            manual_prompt=config.manual_prompt,
            resumed_from_step=resumed_at,
        )
    finally:
        if group is not None:
            group.close(graceful=between_steps)
        torch.set_num_threads(previous_threads)


def learning_rate_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """Linear warmup over warmup_ratio of the steps, then cosine down to 0 (or constant)."""
    warmup = math.ceil(config.warmup_ratio * total_steps)
    if step < warmup:
        return config.learning_rate * (step + 1) / (warmup + 1)
    if config.lr_schedule == "constant" or total_steps <= warmup + 1:
        return config.learning_rate
    progress = (step - warmup) / (total_steps - warmup)
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def bf16_supported() -> bool:
    """Whether bf16 matmuls are faster than fp32 on this CPU, measured (~0.1 s).

    The CPU flags are not enough: a machine reporting avx512_bf16 ran bf16 matmuls at 0.6x
    fp32 (bench/README.md, "Training"), another at ~2x. So time the layer shape that
    dominates a step and take bf16 only where it wins clearly.
    """
    import torch

    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False

    def seconds(dtype) -> float:
        a, b = torch.randn(448, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
        a @ b  # first call: kernel selection
        started = time.perf_counter()
        for _ in range(8):
            a @ b
        return time.perf_counter() - started

    return seconds(torch.bfloat16) < 0.8 * seconds(torch.float32)


def _resolved(config: TrainConfig) -> TrainConfig:
    """`bf16` and `torch_threads` decided for this machine where the config leaves them open."""
    import os
    from dataclasses import replace

    if config.bf16 is None:
        config = replace(config, bf16=bf16_supported())
    cores = len(os.sched_getaffinity(0))
    if config.workers is None:
        config = replace(config, workers=max(1, min(cores, config.batch_rows)))
    if config.torch_threads is None:
        config = replace(config, torch_threads=max(1, cores // config.workers))
    return config


def parallel_spec(config, folder: Path, train, evaluation, plan, resume_from) -> dict:
    """What a helper process needs to run the same steps (finetune.training.worker)."""
    return {
        "config": config.as_dict(),
        "model_folder": str(folder),
        "train": [[r.row_id, r.input_ids, r.labels] for r in train],
        "eval": [[r.row_id, r.input_ids, r.labels] for r in evaluation],
        "plan": plan,
        "resume_from": str(resume_from) if resume_from else None,
    }


# ---------------------------------------------------------------- model and rows


def lora_model(config: TrainConfig, folder: Path):
    import torch
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="sdpa"
    )
    base.config.use_cache = False
    torch.manual_seed(config.seed)  # LoRA's A matrices start random; B starts at zero
    target = config.target_modules
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=target if isinstance(target, str) else list(target),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora)
    if config.bf16:
        # Autocast would cast these frozen weights to bf16 on every forward (measured ~6% of
        # a step); they never change, so cast once. Embeddings and norms stay fp32, so the
        # residual stream keeps fp32 precision as under plain autocast.
        for module in model.modules():
            if isinstance(module, LoraLayer):
                module.get_base_layer().to(torch.bfloat16)
    return model


def new_optimizer(params, config: TrainConfig):
    import torch

    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def _encode(rows, config: TrainConfig, widgets, tokenizer) -> tuple[list[EncodedRow], list[str]]:
    """Encoded rows that fit in max_seq_len, and the ids of those that do not."""
    kept, skipped = [], []
    for row in rows:
        encoded = encode_row(row, widgets=widgets, tokenizer=tokenizer, manual=config.manual_prompt)
        if len(encoded.input_ids) > config.max_seq_len:
            skipped.append(encoded.row_id)
        else:
            kept.append(encoded)
    return kept, skipped


# ---------------------------------------------------------------- one step


def _autocast(bf16: bool):
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def row_loss_sum(model, row: EncodedRow, *, bf16: bool, detach_prompt: bool = False):
    """Summed cross-entropy over the row's loss tokens (a 0-dim tensor), and their count.

    detach_prompt: the tokens before the first loss token (system prompt, records, the first
    question) run forward without autograd, and the rest attends to their cached keys and
    values. The forward pass is the same computation, so the loss is the same; what changes
    is that the adapter learns only through the answer's positions, and the prompt's
    backward pass (over half of a demo row's work) is not spent.
    """
    import torch
    import torch.nn.functional as F

    ids = torch.tensor([row.input_ids])
    targets = torch.tensor(row.labels[1:])  # position p predicts token p + 1
    keep = (targets != IGNORE_INDEX).nonzero().squeeze(1)
    cut = int(keep[0]) if detach_prompt and keep.numel() and torch.is_grad_enabled() else 0
    with _autocast(bf16):
        if cut == 0:
            logits = model(input_ids=ids, logits_to_keep=keep, use_cache=False).logits[0]
        else:
            with torch.no_grad():
                cache = model(input_ids=ids[:, :cut], use_cache=True).past_key_values
            logits = model(
                input_ids=ids[:, cut:], past_key_values=cache, use_cache=True,
                logits_to_keep=keep - cut,
            ).logits[0]  # fmt: skip
    return F.cross_entropy(logits.float(), targets[keep], reduction="sum"), int(keep.numel())


def train_step(
    model, optimizer, params, batch, *, lr: float, config: TrainConfig, group: Group | None = None
) -> float:
    """One optimiser step over `batch`; returns its mean loss per loss token.

    With a group, this process runs only its share of the rows, and the gradients and loss
    are summed over the processes before the (identical) optimiser step in each.
    """
    import torch

    model.train()
    optimizer.zero_grad(set_to_none=False)  # zeros, not None: a share may be empty
    # Every loss token weighs the same, whichever row it is in: divide by the step's total.
    count = sum(row.loss_tokens for row in batch)
    mine = batch if group is None else [batch[i] for i in group.mine(_lengths(batch))]
    total = torch.zeros(1)
    for row in mine:
        loss_sum, _ = row_loss_sum(model, row, bf16=config.bf16, detach_prompt=config.detach_prompt)
        (loss_sum / count).backward()
        total += loss_sum.detach().float()
    if group is not None:
        group.sum([_grad(p) for p in params] + [total])
    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    return total.item() / count


def evaluate(model, rows: Sequence[EncodedRow], *, bf16: bool, group: Group | None = None) -> float:
    """Mean loss per loss token over `rows`, without dropout or gradients (shared out too)."""
    import torch

    model.eval()
    mine = rows if group is None else [rows[i] for i in group.mine(_lengths(rows))]
    sums = torch.zeros(2, dtype=torch.float64)  # loss, loss tokens
    with torch.no_grad():
        for row in mine:
            loss_sum, n = row_loss_sum(model, row, bf16=bf16)
            sums += torch.tensor([loss_sum.item(), n], dtype=torch.float64)
    if group is not None:
        group.sum([sums])
    return sums[0].item() / max(sums[1].item(), 1)


def _lengths(rows: Sequence[EncodedRow]) -> list[int]:
    return [len(row.input_ids) for row in rows]


def _grad(param):
    import torch

    if param.grad is None:  # never reached by a backward pass in this process
        param.grad = torch.zeros_like(param)
    return param.grad


# ---------------------------------------------------------------- reporting and saving


def _progress(run: _RunState, total, per_epoch, loss, eval_loss, lr, resumed) -> Progress:
    if run.run_step_s > 0:  # this run's pace: the machine may be busier than before
        pace = run.run_step_s / (run.step - (resumed or 0))
        rate = run.run_tokens / run.run_step_s
    else:  # just resumed: the earlier runs' pace
        pace = run.elapsed_s / max(run.step, 1)
        rate = run.trained_tokens / max(run.elapsed_s, 1e-9)
    return Progress(
        step=run.step,
        total_steps=total,
        epoch=round(run.step / per_epoch, 3),
        loss=loss,
        eval_loss=eval_loss,
        learning_rate=lr,
        tokens_per_s=rate,
        eta_s=pace * (total - run.step),
        elapsed_s=run.elapsed_s + run.run_step_s,
        trained_tokens=run.trained_tokens,
        resumed_from_step=resumed,
    )


def _checkpoint_state(config: TrainConfig, train: list[EncodedRow], run: _RunState) -> dict:
    return {
        "config": config.as_dict(),
        "row_ids": [row.row_id for row in train],
        "manual_prompt": config.manual_prompt,
        "trained_tokens": run.trained_tokens,
        "loss_tokens": run.loss_tokens,
        "elapsed_s": run.elapsed_s + run.run_step_s,
        "history": run.history,
    }


def _metrics(config: TrainConfig, train, skipped: list[str], run: _RunState) -> dict[str, Any]:
    losses = [point["loss"] for point in run.history]
    evals = [point["eval_loss"] for point in run.history if point["eval_loss"] is not None]
    seconds = run.elapsed_s + run.run_step_s
    return {
        "train_loss": sum(losses[-FINAL_LOSS_STEPS:]) / max(len(losses[-FINAL_LOSS_STEPS:]), 1),
        "eval_loss": evals[-1] if evals else None,
        "history": run.history,
        "steps": run.step,
        "trained_tokens": run.trained_tokens,
        "loss_tokens": run.loss_tokens,
        "tokens_per_s": run.trained_tokens / max(seconds, 1e-9),
        "seconds": seconds,
        "train_rows": len(train),
        "skipped_rows": skipped,
        "manual_prompt": config.manual_prompt,
        "bf16": config.bf16,
    }


def _save_adapter(model, out_dir: Path, config, row_ids: list[str], metrics: dict) -> Path:
    """peft's save_pretrained into out_dir/adapter, swapped in whole (scratch, then rename)."""
    target = out_dir / ADAPTER_FOLDER
    scratch = out_dir / f".{ADAPTER_FOLDER}-writing"
    shutil.rmtree(scratch, ignore_errors=True)
    model.save_pretrained(scratch, safe_serialization=True)
    record = {
        "manual_prompt": config.manual_prompt,
        "config": config.as_dict(),
        "row_ids": row_ids,
        "metrics": metrics,
    }
    (scratch / TRAINING_RECORD).write_text(json.dumps(record, indent=1))
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
    return target
